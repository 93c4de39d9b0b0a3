import type { IssuedToken } from "../broker/token-service.js";
import type { IssuedCredential } from "../providers/credential.js";
import { type HttpResult, jsonTextResult } from "./http-result.js";

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
function tokenResponseBody({ provider, credential, scope, expiresInSec }: IssuedToken): TokenResponseBody {
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

interface Template {
  /** The serialized body up to `"expires_in":`, and everything after its value. */
  head: string;
  tail: string;
  expiresInSec: number;
  body: string;
}

/**
 * Token responses, serialized once per credential: only `expires_in` changes during a credential's
 * life, and one string per second serves every hit in it. Re-serializing the ~1.3 KB of token and
 * headers on every hit cost 14 µs of server CPU per request through the whole request path (npm run
 * bench with BENCH_HITS_COMPARE, same hits interleaved: 14.5k without against 18.4k hits per second
 * with, on the local host). Templates live as long as their (frozen, never mutated) credential.
 */
export class TokenResponses {
  private readonly templates = new WeakMap<IssuedCredential, Template>();

  result(issued: IssuedToken): HttpResult {
    let template = this.templates.get(issued.credential);
    if (template === undefined) {
      const json = JSON.stringify({ ...tokenResponseBody(issued), expires_in: 0 });
      const at = json.indexOf(',"expires_in":0,') + ',"expires_in":'.length;
      template = { head: json.slice(0, at), tail: json.slice(at + 1), expiresInSec: -1, body: "" };
      this.templates.set(issued.credential, template);
    }
    if (template.expiresInSec !== issued.expiresInSec) {
      template.body = template.head + issued.expiresInSec + template.tail;
      template.expiresInSec = issued.expiresInSec;
    }
    return jsonTextResult(200, template.body);
  }
}
