import { TokenBrokerError } from "./errors.js";

/** A partner credential as served by the broker: send `headers` with every partner request. */
export interface PartnerCredential {
  provider: string;
  /** `Bearer`, `Basic` or `ApiKey`. */
  tokenType: string;
  /** The token, for token providers (for Azure SDKs); static API keys live only in `headers`. */
  accessToken?: string;
  /** The scope a token provider's token is issued for. */
  scope?: string;
  expiresAt: Date;
  /** Every header the partner needs (`Authorization`, `AuthKey`, `Partner`, `User-Agent`, …). */
  headers: Record<string, string>;
  /** Fingerprint of the credential (never the value): what the client reports when the partner refuses it. */
  fingerprint: string;
}

/** Checks the broker's token body field by field; the error names a field, never a value. */
export function parseTokenBody(provider: string, body: unknown): PartnerCredential {
  const b = body as Record<string, unknown> | null;
  const bad = (field: string) => new TokenBrokerError("invalid_response", `The broker's token response has no valid "${field}".`);
  if (typeof b !== "object" || b === null) throw bad("body");
  if (typeof b.token_type !== "string") throw bad("token_type");
  if (typeof b.expires_at !== "string" || Number.isNaN(Date.parse(b.expires_at))) throw bad("expires_at");
  if (typeof b.headers !== "object" || b.headers === null) throw bad("headers");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(b.headers as Record<string, unknown>)) {
    if (typeof value !== "string") throw bad("headers");
    headers[name] = value;
  }
  if (b.access_token !== undefined && typeof b.access_token !== "string") throw bad("access_token");
  if (b.scope !== undefined && typeof b.scope !== "string") throw bad("scope");
  if (typeof b.fingerprint !== "string") throw bad("fingerprint");
  const credential: PartnerCredential = {
    provider,
    tokenType: b.token_type,
    expiresAt: new Date(b.expires_at),
    headers,
    fingerprint: b.fingerprint,
  };
  if (typeof b.access_token === "string") credential.accessToken = b.access_token;
  if (typeof b.scope === "string") credential.scope = b.scope;
  return Object.freeze(credential);
}
