import type { CachePolicy } from "../config/provider-base-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import type { IssuedCredential, TokenSource } from "../providers/credential.js";
import type { Lock } from "../rotation/lock.js";
import { SingleFlight } from "../single-flight.js";
import type { FleetCoordinator } from "./backplane.js";
import type { TokenCache } from "./token-cache.js";

export interface RejectedReplacementDeps {
  cache: TokenCache;
  /** Fleet-wide single-flight (Redis); without it the in-process flight below is all there is. */
  fleet?: FleetCoordinator;
  /** The rate limit: a lease per provider that is never released, so it lasts its whole TTL. */
  lock: Lock;
}

export interface Replacement {
  credential: IssuedCredential;
  /** True on the one instance (and call) that fetched it from the partner. */
  fetched: boolean;
}

/**
 * Replaces a credential the partner rejected although the broker still holds it as valid: one
 * partner fetch per rejected credential, fleet-wide. Every report of the same fingerprint joins
 * one flight — in this process through `inflight`, across the fleet through the fleet
 * single-flight keyed by the rejected fingerprint (its leader fetches, the others take the
 * leader's result). The leader first takes a per-provider lease of `minIntervalSec` that it never
 * releases: a second forced fetch within that window is refused with `rate_limited`, so a buggy or
 * hostile caller cannot turn reports into partner calls.
 */
export class RejectedCredentialReplacer {
  private readonly inflight = new SingleFlight<Replacement>();

  constructor(private readonly deps: RejectedReplacementDeps) {}

  replace(source: TokenSource, policy: CachePolicy, cacheKey: string, rejected: string, minIntervalSec: number): Promise<Replacement> {
    // Cache keys are `${provider}:…`, so the flight stays under the provider's Redis hash tag.
    const flightKey = `${cacheKey}#rejected-${rejected.replace(/^sha256:/, "")}`;
    const existing = this.inflight.current(flightKey);
    if (existing !== undefined) return existing.promise.then((r) => ({ ...r, fetched: false }));
    return this.inflight.start(flightKey, () => this.run(source, policy, cacheKey, flightKey, minIntervalSec), undefined);
  }

  private async run(source: TokenSource, policy: CachePolicy, cacheKey: string, flightKey: string, minIntervalSec: number): Promise<Replacement> {
    let fetched = false;
    const lead = async (): Promise<IssuedCredential> => {
      const lease = await this.deps.lock.tryAcquire(`rejected-refetch:${source.provider}`, minIntervalSec * 1000);
      if (lease === undefined) {
        throw new BrokerError(
          "rate_limited",
          `A rejected credential of this provider was replaced less than ${minIntervalSec} s ago; try again later.`,
          { retryAfterSec: Math.max(1, minIntervalSec) },
        );
      }
      fetched = true;
      return (await this.deps.cache.replaceRejected(source, policy)).credential;
    };
    const credential = this.deps.fleet ? await this.deps.fleet.singleFlight(flightKey, lead) : await lead();
    if (!fetched) this.deps.cache.adoptReplacement(source.provider, cacheKey, credential, policy);
    return { credential, fetched };
  }
}
