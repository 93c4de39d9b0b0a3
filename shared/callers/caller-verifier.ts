import { decodeJwt, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import type { Clock, Sleeper } from "../clock.js";
import { JWS_ALGORITHMS, type IssuerConfig } from "../config/schema.js";
import { ConfigError } from "../config/load.js";
import { BrokerError } from "../errors/broker-error.js";
import type { FetchLike } from "../http/fetch-like.js";
import { fingerprint } from "../log/fingerprint.js";
import { errorFields, type Logger } from "../log/logger.js";
import { evictOldest } from "../evict-oldest.js";
import { IssuerKeys, JwksUnavailableError } from "./issuer-keys.js";
import type { Telemetry } from "../telemetry/telemetry.js";

/** Who called, as proven by a verified token. Shared between requests: never mutate it. */
export interface VerifiedCaller {
  /** Key of the issuer in the configuration (not the `iss` URL). */
  readonly issuer: string;
  /** azp ?? appid ?? sub. */
  readonly id: string;
  /** The token's `exp`, in epoch milliseconds. */
  readonly expiresAt: number;
}

export interface CallerVerifierDeps {
  clock: Clock;
  /** Times out JWKS fetches. */
  sleeper: Sleeper;
  fetch: FetchLike;
  logger: Logger;
  /** Verified tokens kept until their exp; 0 turns the cache off. */
  cacheSize: number;
  /** How long fetched signing keys are used before the JWKS is re-fetched in the background (default 10 min). */
  jwksCacheMaxAgeMs?: number;
  /** Timeout of one JWKS fetch (default 5 s). */
  jwksTimeoutMs?: number;
  telemetry?: Telemetry;
}

const CACHED = { outcome: "cached" } as const;
const VERIFIED = { outcome: "verified" } as const;
const REJECTED = { outcome: "rejected" } as const;

/** Only asymmetric algorithms: an HMAC "key" taken from a JWKS is public, so HS* would be forgeable. */
const ASYMMETRIC: ReadonlySet<string> = new Set(JWS_ALGORITHMS);

/** Characters of the token's end used as cache key: 258 bits of signature in base64url. */
const CACHE_KEY_CHARS = 43;

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

interface TrustedIssuer {
  key: string;
  keys: IssuerKeys;
  getKey: JWTVerifyGetKey;
  options: {
    issuer: string;
    audience: string | string[];
    algorithms: string[];
    requiredClaims: string[];
    clockTolerance: number;
  };
}

/**
 * Authenticates callers: `Authorization: Bearer <JWT>` verified with jose against the JWKS of the
 * configured issuer whose `iss` matches exactly. Verified tokens are cached until their `exp`, so
 * the hot path (the same service token on thousands of requests per second) costs one Map lookup
 * and one comparison instead of an RS256 verify.
 */
export class CallerVerifier {
  private readonly byIss = new Map<string, TrustedIssuer>();
  /**
   * Verified Authorization headers by the tail of their signature. Hashing a whole ~1 KB header for
   * a Map lookup cost more than the rest of a cache hit; the tail is unique to a token in practice,
   * and a hit is only served after the whole header compares equal (`===`, a memcmp, where
   * `endsWith` walked ~700 characters one by one), so a collision is merely a miss.
   */
  private readonly cache = new Map<string, { authorization: string; caller: VerifiedCaller }>();
  /** Signature verifications run (cache misses that reached jose), for measurement and tests. */
  signatureChecks = 0;
  /** An own field (possibly undefined): the hit path reads it without a lookup on deps. */
  private readonly telemetry: Telemetry | undefined;

  constructor(
    issuers: Record<string, IssuerConfig>,
    private readonly deps: CallerVerifierDeps,
  ) {
    this.telemetry = deps.telemetry;
    for (const [key, config] of Object.entries(issuers)) {
      const clash = this.byIss.get(config.issuer);
      if (clash) {
        // Identity is (issuer key, id): two keys for one `iss` would make a caller ambiguous.
        throw new ConfigError(`issuers "${clash.key}" and "${key}" have the same iss "${config.issuer}"`, [
          `issuers.${key}.issuer: duplicates issuers.${clash.key}.issuer`,
        ]);
      }
      const algorithms = config.algorithms.filter((alg) => ASYMMETRIC.has(alg));
      if (algorithms.length !== config.algorithms.length) {
        deps.logger.log("warn", "caller_issuer_algorithms_refused", {
          issuer: key,
          refused: config.algorithms.filter((alg) => !ASYMMETRIC.has(alg)),
        });
      }
      const keys = new IssuerKeys({
        issuer: key,
        jwksUri: config.jwksUri,
        clock: deps.clock,
        sleeper: deps.sleeper,
        fetch: deps.telemetry ? (url, init) => countedJwksFetch(deps.fetch(url, init), deps.telemetry) : deps.fetch,
        logger: deps.logger,
        refreshAfterMs: deps.jwksCacheMaxAgeMs ?? 600_000,
        cooldownMs: config.jwksCooldownSec * 1000,
        maxStaleMs: config.jwksMaxStaleSec * 1000,
        timeoutMs: deps.jwksTimeoutMs ?? 5000,
      });
      this.byIss.set(config.issuer, {
        key,
        keys,
        getKey: keys.getKey,
        options: {
          issuer: config.issuer,
          audience: config.audience,
          algorithms,
          requiredClaims: ["exp"],
          clockTolerance: config.clockToleranceSec,
        },
      });
    }
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
    this.remember(authorization, caller);
    return caller;
  }

  /**
   * The verified caller for this header if the cache holds it, synchronously: the request path
   * then creates no promise at all for the caller check. Undefined means "call verify()".
   */
  /** JWKS fetches started for an issuer (by configuration key). */
  jwksFetches(issuer: string): number {
    for (const trusted of this.byIss.values()) if (trusted.key === issuer) return trusted.keys.fetches;
    return 0;
  }

  cached(authorization: string | null | undefined): VerifiedCaller | undefined {
    if (typeof authorization !== "string") return undefined;
    const key = authorization.slice(-CACHE_KEY_CHARS);
    const hit = this.cache.get(key);
    // Only headers that verify() accepted are stored, so equality covers the scheme check too;
    // the same token under another spelling of the scheme ("bearer ") is the rare, slower case.
    if (hit === undefined) return undefined;
    if (hit.authorization !== authorization && !sameTokenOtherScheme(hit.authorization, authorization)) return undefined;
    if (this.deps.clock.now() < hit.caller.expiresAt) {
      this.telemetry?.add("callerVerifications", 1, CACHED);
      return hit.caller;
    }
    // Past exp: drop it; verify() answers exactly what an uncached verify gives.
    this.cache.delete(key);
    return undefined;
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

  private remember(authorization: string, caller: VerifiedCaller): void {
    const max = this.deps.cacheSize;
    // A token accepted only thanks to clock tolerance is not cached: the hit check uses exp alone.
    if (max <= 0 || this.deps.clock.now() >= caller.expiresAt) return;
    evictOldest(this.cache, max - 1); // room for the one added below
    this.cache.set(authorization.slice(-CACHE_KEY_CHARS), { authorization, caller });
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

/** `Bearer ` followed by something; the scheme is case-insensitive (RFC 9110), the common spelling is checked first. */
function hasBearerScheme(authorization: string): boolean {
  if (authorization.length < 8) return false;
  return authorization.startsWith("Bearer ") || authorization.slice(0, 7).toLowerCase() === "bearer ";
}

function sameTokenOtherScheme(stored: string, authorization: string): boolean {
  return stored.length === authorization.length && hasBearerScheme(authorization) && stored.slice(7) === authorization.slice(7);
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

/** JWKS fetches by outcome: a non-2xx answer counts as a failure (jose then rejects it too). */
function countedJwksFetch(response: Promise<Response>, telemetry: Telemetry | undefined): Promise<Response> {
  if (telemetry === undefined) return response;
  return response.then(
    (r) => {
      telemetry.add("jwksFetches", 1, { outcome: r.ok ? "success" : "failure" });
      return r;
    },
    (error: unknown) => {
      telemetry.add("jwksFetches", 1, { outcome: "failure" });
      throw error;
    },
  );
}
