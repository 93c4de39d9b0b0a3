import type { JWTVerifyGetKey } from "jose";
import type { Clock, Sleeper } from "../clock.js";
import { JWS_ALGORITHMS, type IssuerConfig } from "../config/caller-schema.js";
import { ConfigError } from "../config/load.js";
import type { FetchLike } from "../http/fetch-like.js";
import type { Logger } from "../log/logger.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { IssuerKeys } from "./issuer-keys.js";

/** A configured issuer as a token is verified against it: its keys and jose's checks. */
export interface TrustedIssuer {
  /** Key of the issuer in the configuration (not the `iss` URL). */
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

export interface TrustedIssuersDeps {
  clock: Clock;
  /** Times out JWKS fetches. */
  sleeper: Sleeper;
  fetch: FetchLike;
  logger: Logger;
  /** How long fetched signing keys are used before the JWKS is re-fetched in the background (default 10 min). */
  jwksCacheMaxAgeMs?: number;
  /** Timeout of one JWKS fetch (default 5 s). */
  jwksTimeoutMs?: number;
  telemetry?: Telemetry;
}

/** Only asymmetric algorithms: an HMAC "key" taken from a JWKS is public, so HS* would be forgeable. */
const ASYMMETRIC: ReadonlySet<string> = new Set(JWS_ALGORITHMS);

/**
 * The configured issuers by their exact `iss`, each with its own JWKS. Refuses two issuer keys
 * for one `iss`, and drops (with a warning) any algorithm that is not asymmetric.
 */
export function trustedIssuers(issuers: Record<string, IssuerConfig>, deps: TrustedIssuersDeps): Map<string, TrustedIssuer> {
  const byIss = new Map<string, TrustedIssuer>();
  for (const [key, config] of Object.entries(issuers)) {
    const clash = byIss.get(config.issuer);
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
    byIss.set(config.issuer, {
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
  return byIss;
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
