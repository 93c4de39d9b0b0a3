import { decodeJwt, errors, jwtVerify } from "jose";
import { z } from "zod";
import type { IssuerConfig } from "../config/caller-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import { fingerprint } from "../log/fingerprint.js";
import { errorFields } from "../log/logger.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { JwksUnavailableError } from "./issuer-keys.js";
import { trustedIssuers, type TrustedIssuer, type TrustedIssuersDeps } from "./trusted-issuers.js";
import { hasBearerScheme, VerifiedTokenCache } from "./verified-token-cache.js";

/** Who called, as proven by a verified token. Shared between requests: never mutate it. */
export interface VerifiedCaller {
  /** Key of the issuer in the configuration (not the `iss` URL). */
  readonly issuer: string;
  /** azp ?? appid ?? sub. */
  readonly id: string;
  /** The token's `exp`, in epoch milliseconds. */
  readonly expiresAt: number;
}

export interface CallerVerifierDeps extends TrustedIssuersDeps {
  /** Verified tokens kept until their exp; 0 turns the cache off. */
  cacheSize: number;
}

const CACHED = { outcome: "cached" } as const;
const VERIFIED = { outcome: "verified" } as const;
const REJECTED = { outcome: "rejected" } as const;

/** A caller JWT is a few KB at most; refusing giants early bounds parsing work and cache memory. */
const MAX_TOKEN_LENGTH = 16 * 1024;
/** RFC 6750 b64token: anything else cannot be a compact JWS. */
const TOKEN_CHARS = /^[A-Za-z0-9\-._~+/]+=*$/;

const RETRY_AFTER_SEC = 5;

/** The claims the broker reads after jose has validated signature, iss, aud and times. */
const IdentityClaimsSchema = z.object({
  exp: z.number(),
  azp: z.string().min(1).optional(),
  appid: z.string().min(1).optional(),
  sub: z.string().min(1).optional(),
});

/**
 * Authenticates callers: `Authorization: Bearer <JWT>` verified with jose against the JWKS of the
 * configured issuer whose `iss` matches exactly. Verified tokens are kept until their `exp` in a
 * VerifiedTokenCache, so the hot path costs one Map lookup instead of a signature verification.
 */
export class CallerVerifier {
  private readonly byIss: Map<string, TrustedIssuer>;
  private readonly tokens: VerifiedTokenCache<VerifiedCaller>;
  /** Signature verifications run (cache misses that reached jose), for measurement and tests. */
  signatureChecks = 0;
  /** An own field (possibly undefined): the hit path reads it without a lookup on deps. */
  private readonly telemetry: Telemetry | undefined;

  constructor(
    issuers: Record<string, IssuerConfig>,
    private readonly deps: CallerVerifierDeps,
  ) {
    this.telemetry = deps.telemetry;
    this.tokens = new VerifiedTokenCache(deps.clock, deps.cacheSize);
    this.byIss = trustedIssuers(issuers, deps);
  }

  async verify(authorization: string | null | undefined): Promise<VerifiedCaller> {
    // Hot path first: no regex, no decoding, just the scheme check, a lookup and exp.
    if (typeof authorization !== "string" || !hasBearerScheme(authorization)) {
      throw new BrokerError("caller_unauthenticated", "bearer token required");
    }
    const cached = this.cached(authorization);
    if (cached !== undefined) return cached;
    const caller = await this.verifyUncached(authorization.slice(7).trim());
    this.telemetry?.add("callerVerifications", 1, VERIFIED);
    this.tokens.set(authorization, caller);
    return caller;
  }

  /** JWKS fetches started for an issuer (by configuration key). */
  jwksFetches(issuer: string): number {
    for (const trusted of this.byIss.values()) if (trusted.key === issuer) return trusted.keys.fetches;
    return 0;
  }

  /** The verified caller for this header if the cache holds it; undefined means "verify it". */
  private cached(authorization: string): VerifiedCaller | undefined {
    const caller = this.tokens.get(authorization);
    if (caller !== undefined) this.telemetry?.add("callerVerifications", 1, CACHED);
    return caller;
  }

  private async verifyUncached(token: string): Promise<VerifiedCaller> {
    if (token.length === 0) throw this.reject(token, undefined, "bearer token required");
    if (token.length > MAX_TOKEN_LENGTH || !TOKEN_CHARS.test(token)) throw this.reject(token, undefined, "malformed token");

    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch (error) {
      throw this.reject(token, undefined, "malformed token", error);
    }
    const trusted = typeof iss === "string" ? this.byIss.get(iss) : undefined;
    if (!trusted) throw this.reject(token, undefined, "issuer not trusted");

    let payload: unknown;
    this.signatureChecks++;
    try {
      const result = await jwtVerify(token, trusted.getKey, {
        ...trusted.options,
        currentDate: new Date(this.deps.clock.now()),
      });
      payload = result.payload;
    } catch (error) {
      if (error instanceof JwksUnavailableError) {
        // IssuerKeys logged the failing fetches (one line per interval); nothing per request.
        throw new BrokerError("upstream_unavailable", "The caller token issuer's signing keys are unavailable; retry later.", {
          cause: error,
          retryAfterSec: RETRY_AFTER_SEC,
        });
      }
      throw this.reject(token, trusted.key, reasonFor(error), error);
    }

    const claims = IdentityClaimsSchema.safeParse(payload);
    if (!claims.success) throw this.reject(token, trusted.key, "malformed token");
    const id = claims.data.azp ?? claims.data.appid ?? claims.data.sub;
    if (id === undefined) throw this.reject(token, trusted.key, "caller identity missing");
    return Object.freeze({ issuer: trusted.key, id, expiresAt: claims.data.exp * 1000 });
  }

  /**
   * The 401 the caller sees. Not logged here: the route that answers writes one line per refusal
   * (token_denied, admin_action) carrying these fields, a fingerprint of the token, never the token.
   */
  private reject(token: string, issuer: string | undefined, reason: string, cause?: unknown): BrokerError {
    this.telemetry?.add("callerVerifications", 1, REJECTED);
    const logFields = {
      issuer,
      reason,
      token: token.length > 0 ? fingerprint(token) : undefined,
      ...(cause === undefined ? {} : errorFields(cause)),
    };
    return new BrokerError("caller_unauthenticated", reason, cause === undefined ? { logFields } : { cause, logFields });
  }
}

/** Short, stable categories for callers; jose's own messages stay out of the response. */
function reasonFor(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "aud":
        return "audience not accepted";
      case "iss":
        return "issuer not trusted";
      case "exp":
        return "token has no valid expiry";
      case "nbf":
        return "token not yet valid";
      default:
        return "claims not accepted";
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return "signature invalid";
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid || error instanceof errors.JOSENotSupported) {
    return "malformed token";
  }
  return "token not accepted";
}
