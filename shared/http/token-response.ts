import type { IssuedToken } from "../broker/token-service.js";
import { type HttpResult, jsonResult } from "./http-result.js";

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

/** Keys in the order of the documented contract; a static key has no access_token (nor scope). */
export function tokenResponseBody({ provider, credential, scope, expiresInSec }: IssuedToken): TokenResponseBody {
  return {
    provider,
    token_type: credential.tokenType,
    ...(credential.accessToken === undefined ? {} : { access_token: credential.accessToken, ...(scope === undefined ? {} : { scope }) }),
    expires_in: expiresInSec,
    expires_at: new Date(credential.expiresAt).toISOString(),
    headers: credential.headers,
    fingerprint: credential.fingerprint,
  };
}

export function tokenResult(issued: IssuedToken): HttpResult {
  return jsonResult(200, tokenResponseBody(issued));
}
