import type { IssuedCredential } from "../providers/credential.js";

/** The body of `GET /api/token/{provider}` (public contract). */
export interface TokenResponseBody {
  provider: string;
  token_type: string;
  access_token?: string;
  /** The scope the token was issued for (token providers with a configured scope). */
  scope?: string;
  expires_in: number;
  expires_at: string;
  headers: Record<string, string>;
  /** Fingerprint of the credential: what a caller reports to `POST /api/token/{provider}/rejected`. */
  fingerprint: string;
}

interface Template {
  head: string;
  tail: string;
  /** The last body built and its expires_in: every hit within the same second reuses it. */
  lastExpiresIn: number;
  lastBody: string;
}

/**
 * Serialized bodies are built from a template per credential: everything but `expires_in` is
 * fixed for a credential's life, and cache hits would otherwise re-serialize the same ~1 KB of
 * token and headers on every request. Cached credentials are frozen, so the template cannot go stale.
 */
const templates = new WeakMap<IssuedCredential, Template>();

export function serializeTokenBody(provider: string, credential: IssuedCredential, now: number, scope?: string): string {
  let template = templates.get(credential);
  if (template === undefined) {
    template = buildTemplate(provider, credential, scope);
    templates.set(credential, template);
  }
  const seconds = expiresIn(credential, now);
  if (seconds !== template.lastExpiresIn) {
    // One string per second, reused by every hit in it: the first socket write flattens it and
    // the later ones send it as is, instead of each flattening a fresh concatenation.
    template.lastBody = template.head + seconds + template.tail;
    template.lastExpiresIn = seconds;
  }
  return template.lastBody;
}

export function expiresIn(credential: IssuedCredential, now: number): number {
  return Math.max(0, Math.floor((credential.expiresAt - now) / 1000));
}

function buildTemplate(provider: string, credential: IssuedCredential, scope: string | undefined): Template {
  // Key order follows the documented contract; static keys carry no access_token (nor scope).
  const start: Pick<TokenResponseBody, "provider" | "token_type" | "access_token" | "scope"> = { provider, token_type: credential.tokenType };
  if (credential.accessToken !== undefined) {
    start.access_token = credential.accessToken;
    if (scope !== undefined) start.scope = scope;
  }
  const head = JSON.stringify(start).slice(0, -1) + ',"expires_in":';
  const tail =
    ',"expires_at":' +
    JSON.stringify(new Date(credential.expiresAt).toISOString()) +
    ',"headers":' +
    JSON.stringify(credential.headers) +
    ',"fingerprint":' +
    JSON.stringify(credential.fingerprint) +
    "}";
  return { head, tail, lastExpiresIn: -1, lastBody: "" };
}
