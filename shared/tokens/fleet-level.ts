import { isBrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { IssuedCredential, PreparedSource } from "../providers/credential.js";
import { SingleFlight } from "../single-flight.js";
import { SPANS } from "../telemetry/instruments.js";
import { noTelemetry, type SpanOptions, type Telemetry } from "../telemetry/telemetry.js";
import type { FleetBackplane, FleetCoordinator } from "./backplane.js";
import type { CredentialOrigin, IssueOptions } from "./credential-origin.js";
import { freeze } from "./local-cache.js";

export interface FleetLevelDeps {
  backplane: FleetBackplane;
  logger: Logger;
  telemetry?: Telemetry;
}

/** The backplane is Redis: its calls are Redis dependencies. */
const redisSpan = (operation: string, provider: string): SpanOptions => ({
  kind: "client",
  attributes: { provider, "db.system.name": "redis", "db.operation.name": operation },
});

/**
 * The fleet-wide second level, decorating another origin (the partner): reads go to the shared
 * store first, partner calls run in the fleet single-flight (or are shared by a put where the
 * backplane has none), invalidations are deleted and broadcast. Any failure of the backplane is
 * logged and counted, then degrades to the decorated origin: it never fails a request.
 */
export class FleetLevel implements CredentialOrigin {
  readonly shared = true;
  private readonly lookups = new SingleFlight<IssuedCredential | undefined, { epoch: number }>();
  private readonly telemetry: Telemetry;

  constructor(
    private readonly inner: CredentialOrigin,
    private readonly deps: FleetLevelDeps,
  ) {
    this.telemetry = deps.telemetry ?? noTelemetry;
  }

  /** Deduplicated shared-store read per key and epoch; never rejects (a failing store is a miss). */
  lookup(provider: string, key: string, epoch: number): Promise<IssuedCredential | undefined> {
    const existing = this.lookups.current(key);
    if (existing !== undefined && existing.meta.epoch === epoch) return existing.promise;
    return this.lookups.start(key, () => this.read(provider, key), { epoch });
  }

  issue(provider: string, prepared: PreparedSource, options: IssueOptions): Promise<IssuedCredential> {
    // Forced refreshes bypass the fleet flight: joining another instance's fetch could hand back
    // a credential obtained before the operator asked.
    const { backplane } = this.deps;
    if (options.forced || backplane.singleFlight === undefined) return this.issueAndShare(provider, prepared, options);
    return this.issueThroughFleet(backplane as FleetCoordinator, provider, prepared, options);
  }

  async forget(provider: string, keys: readonly string[]): Promise<void> {
    try {
      await this.deps.backplane.forget(provider, keys);
    } catch (error) {
      this.degraded(provider, "delete", error);
    }
  }

  async publish(provider: string): Promise<void> {
    try {
      await this.deps.backplane.publish(provider);
    } catch (error) {
      this.degraded(provider, "publish", error);
    }
  }

  onInvalidated(listener: (provider: string) => void): void {
    try {
      this.deps.backplane.subscribe(listener);
    } catch (error) {
      this.degraded(undefined, "subscribe", error);
    }
  }

  private async read(provider: string, key: string): Promise<IssuedCredential | undefined> {
    try {
      const credential = await this.telemetry.span(SPANS.sharedCacheGet, redisSpan("get", provider), () => this.deps.backplane.get(key));
      return isCredential(credential) ? freeze(credential) : undefined;
    } catch (error) {
      this.degraded(provider, "get", error);
      return undefined;
    }
  }

  /** Fetches outside a fleet flight (none, or an operator-forced refresh) and shares the result. */
  private async issueAndShare(provider: string, prepared: PreparedSource, options: IssueOptions): Promise<IssuedCredential> {
    const credential = await this.inner.issue(provider, prepared, options);
    // Awaited: once the caller has it, other instances find it in the shared store too.
    if (options.stillCurrent()) {
      try {
        await this.telemetry.span(SPANS.sharedCachePut, redisSpan("put", provider), () => this.deps.backplane.put(prepared.cacheKey, credential));
      } catch (error) {
        this.degraded(provider, "put", error);
      }
    }
    return credential;
  }

  private async issueThroughFleet(fleet: FleetCoordinator, provider: string, prepared: PreparedSource, options: IssueOptions): Promise<IssuedCredential> {
    // Tells a partner failure (rethrown as is) from a coordinator failure (degrade to local).
    const own: { value?: IssuedCredential; error?: { cause: unknown } } = {};
    const run = async (): Promise<IssuedCredential> => {
      try {
        // No put here: the coordinator writes the result, fenced by its lease and only while
        // shouldStore() says no invalidation has overtaken this flight.
        own.value = await this.inner.issue(provider, prepared, options);
        return own.value;
      } catch (error) {
        own.error = { cause: error };
        throw error;
      }
    };
    try {
      const credential = await this.telemetry.span(SPANS.fleetSingleFlight, redisSpan("single_flight", provider), () =>
        fleet.singleFlight(prepared.cacheKey, run, { shouldStore: options.stillCurrent }),
      );
      if (own.value === undefined) this.telemetry.add("singleFlightWaits", 1, { provider, scope: "fleet" });
      if (!isCredential(credential)) throw new TypeError("fleet returned an unusable credential");
      return credential;
    } catch (error) {
      if (own.error !== undefined) throw own.error.cause;
      // A peer's fetch failed at the partner: the coordinator hands its BrokerError to every waiter.
      // Retrying locally would turn one failed partner call into one per instance.
      if (isBrokerError(error)) throw error;
      this.degraded(provider, "single_flight", error);
      return own.value ?? run();
    }
  }

  private degraded(provider: string | undefined, operation: string, error: unknown): void {
    this.telemetry.add("sharedCacheDegraded", 1, { operation });
    this.deps.logger.log("warn", "shared_cache_degraded", { provider, operation, ...errorFields(error) });
  }
}

/** Shape check for what comes back from the backplane (its adapter validates the payload). */
function isCredential(value: unknown): value is IssuedCredential {
  if (typeof value !== "object" || value === null) return false;
  const c = value as Partial<IssuedCredential>;
  return (
    typeof c.tokenType === "string" &&
    typeof c.fingerprint === "string" &&
    typeof c.headers === "object" &&
    c.headers !== null &&
    Number.isFinite(c.issuedAt) &&
    Number.isFinite(c.expiresAt)
  );
}
