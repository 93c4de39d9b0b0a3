import type { Clock } from "../clock.js";
import { isBrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import { errorType, noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "./secret-store.js";
import { VersionCache } from "./version-cache.js";
import { backoffDelay } from "../backoff.js";
import { SingleFlight } from "../single-flight.js";

export interface CachingSecretStoreOptions {
  clock: Clock;
  /** How long a latest read is served from memory before the inner store is asked again. */
  ttlMs: number;
  /**
   * How old a cached latest value may be and still be served (at once, while it is re-read in the
   * background). Beyond it a request waits for the inner store and gets its error.
   */
  maxStaleMs: number;
  logger: Logger;
  /** Bound on cached specific versions (immutable, so never refreshed). */
  maxVersions?: number;
  /** Wait after the first failed background refresh before the next one; doubles per failure. Default 1 s. */
  retryBaseMs?: number;
  /** Cap on that wait. Default min(60 s, maxStaleMs / 4), and never below retryBaseMs. */
  retryMaxMs?: number;
  /** Read latency of the inner store and stale values served. */
  telemetry?: Telemetry;
}

interface LatestEntry {
  readonly secret: SecretVersion;
  /** The same settled promise on every hit: a hit allocates nothing. */
  readonly promise: Promise<SecretVersion>;
  readonly fetchedAt: number;
  /** Served without asking the inner store until then. */
  readonly freshUntil: number;
  /** Served while being re-read in the background until then; never after. */
  readonly staleUntil: number;
  /** Background refreshes that failed in a row since this value was read. */
  failures: number;
  /** No background refresh starts before then (back-off after failures). */
  retryAt: number;
  /** secret_stale_served was logged since the last failure: one line per failure, not per request. */
  staleLogged: boolean;
}

/**
 * In-memory cache in front of any SecretStore; it sits on the request path, so a hit is one Map
 * lookup and one clock read. Latest reads are stale-while-revalidate: once the TTL has passed, a
 * value younger than maxStaleMs is still answered at once while one background read per name
 * refreshes it, so a slow or unreachable store (Key Vault's adapter waits up to 15 s) never holds
 * up a request that has a value to serve. Failed background reads back off exponentially. Only
 * cold reads and values older than maxStaleMs wait for the store (single-flight per name). A
 * missing secret is never papered over. Cached values are frozen so no caller can alter another's view.
 */
export class CachingSecretStore implements SecretStore {
  private readonly latest = new Map<string, LatestEntry>();
  /** Reads of a latest value; set() and invalidate() forget a running one, whose value is then not kept. */
  private readonly flights = new SingleFlight<SecretVersion>();
  /**
   * Names found missing, until when. Optional secrets (a rotation journal before the first
   * rotation) are looked up on the request path: without this every request would ask the store.
   */
  private readonly missing = new Map<string, { until: number; error: SecretNotFoundError }>();
  private readonly versions: VersionCache;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ttlMs: number;
  private readonly maxStaleMs: number;
  private readonly maxVersions: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly telemetry: Telemetry;

  constructor(
    private readonly inner: SecretStore,
    options: CachingSecretStoreOptions,
  ) {
    this.clock = options.clock;
    this.logger = options.logger;
    this.ttlMs = options.ttlMs;
    this.maxStaleMs = options.maxStaleMs;
    this.maxVersions = options.maxVersions ?? 1000;
    this.versions = new VersionCache((name, version) => this.inner.get(name, version).then(freeze), this.maxVersions);
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.telemetry = options.telemetry ?? noTelemetry;
    this.retryMaxMs = Math.max(this.retryBaseMs, options.retryMaxMs ?? Math.min(60_000, Math.floor(options.maxStaleMs / 4)));
  }

  get(name: string, version?: string): Promise<SecretVersion> {
    if (version !== undefined) return this.versions.get(name, version);
    const entry = this.latest.get(name);
    if (entry !== undefined) {
      const now = this.clock.now();
      if (now < entry.freshUntil) return entry.promise;
      if (now < entry.staleUntil) {
        this.revalidate(name, entry, now);
        return entry.promise;
      }
    }
    const missing = this.missing.get(name);
    if (missing !== undefined && this.clock.now() < missing.until) return Promise.reject(missing.error);
    return this.flights.current(name)?.promise ?? this.refresh(name);
  }

  async set(name: string, value: string, tags?: Record<string, string>): Promise<SecretVersion> {
    const written = await this.inner.set(name, value, tags);
    // A read that started before this write must not replace it when it lands.
    this.flights.forget(name);
    this.missing.delete(name);
    return this.remember(name, written).secret;
  }

  listVersions(name: string): Promise<SecretVersionInfo[]> {
    return this.inner.listVersions(name);
  }

  /** Drops one secret's cached values (or all), e.g. after an operator rotated it out of band. */
  invalidate(name?: string): void {
    if (name === undefined) {
      this.latest.clear();
      this.missing.clear();
      this.flights.clear();
      this.versions.invalidate();
      return;
    }
    this.latest.delete(name);
    this.missing.delete(name);
    this.flights.forget(name);
    this.versions.invalidate(name);
  }

  /** Serves `entry` past its TTL: starts a background read unless one runs or the back-off holds. */
  private revalidate(name: string, entry: LatestEntry, now: number): void {
    if (entry.failures > 0) this.telemetry.add("secretStaleServed", 1);
    if (entry.failures > 0 && !entry.staleLogged) {
      entry.staleLogged = true;
      this.logger.log("warn", "secret_stale_served", {
        secret: name,
        version: entry.secret.version,
        age_ms: now - entry.fetchedAt,
        failures: entry.failures,
      });
    }
    if (now < entry.retryAt || this.flights.has(name)) return;
    // Nobody awaits a background read: its outcome is recorded (entry, back-off, logs) by refresh,
    // and this handler keeps a failure from becoming an unhandled rejection. Requests that join
    // the same flight (their value expired meanwhile) still see its error.
    this.refresh(name).catch(() => undefined);
  }

  private refresh(name: string): Promise<SecretVersion> {
    const flight: Promise<SecretVersion> = this.flights.start(
      name,
      () =>
        this.timedGet(name).then(
          // Not current: forgotten by set/invalidate, so its outcome must not replace what they left.
          (secret) => (this.isCurrent(name, flight) ? this.remember(name, secret).secret : freeze(secret)),
          (error: unknown) => this.onRefreshFailed(name, error, this.isCurrent(name, flight)),
        ),
      undefined,
    );
    return flight;
  }

  private isCurrent(name: string, flight: Promise<SecretVersion>): boolean {
    return this.flights.current(name)?.promise === flight;
  }

  private async timedGet(name: string): Promise<SecretVersion> {
    const started = this.clock.now();
    let outcome = "success";
    try {
      return await this.inner.get(name);
    } catch (error) {
      outcome = errorType(error);
      throw error;
    } finally {
      this.telemetry.record("secretReadDuration", (this.clock.now() - started) / 1000, { outcome });
    }
  }

  private onRefreshFailed(name: string, error: unknown, current: boolean): SecretVersion {
    if (error instanceof SecretNotFoundError) {
      if (current) {
        this.latest.delete(name); // deleted for real: stop serving it
        if (this.missing.size >= this.maxVersions) this.missing.clear(); // bound: names come from config
        this.missing.set(name, { until: this.clock.now() + this.ttlMs, error });
      }
      throw error;
    }
    const entry = this.latest.get(name);
    if (entry === undefined) throw error;
    const now = this.clock.now();
    const fields = { secret: name, version: entry.secret.version, age_ms: now - entry.fetchedAt };
    if (!isBrokerError(error) || error.code !== "secret_unavailable") {
      // Not an outage (a bug, a bad answer): stop serving so the next request waits and sees it.
      if (current) {
        this.latest.delete(name);
        this.logger.log("error", "secret_refresh_failed", { ...fields, ...errorFields(error) });
      }
      throw error;
    }
    if (now >= entry.staleUntil) {
      this.logger.log("error", "secret_stale_expired", { ...fields, ...errorFields(error) });
      throw error;
    }
    if (current) {
      entry.failures++;
      const retryInMs = backoffDelay({ baseMs: this.retryBaseMs, maxMs: this.retryMaxMs, jitter: "none" }, entry.failures);
      entry.retryAt = now + retryInMs;
      entry.staleLogged = false;
      this.logger.log("warn", "secret_refresh_failed", {
        ...fields,
        failures: entry.failures,
        retry_in_ms: retryInMs,
        ...errorFields(error),
      });
    }
    return entry.secret;
  }

  private remember(name: string, secret: SecretVersion): LatestEntry {
    const frozen = freeze(secret);
    const now = this.clock.now();
    const entry: LatestEntry = {
      secret: frozen,
      promise: Promise.resolve(frozen),
      fetchedAt: now,
      freshUntil: now + this.ttlMs,
      staleUntil: now + this.maxStaleMs,
      failures: 0,
      retryAt: now,
      staleLogged: false,
    };
    this.latest.set(name, entry);
    this.versions.remember(name, frozen.version, entry.promise);
    return entry;
  }
}

function freeze(secret: SecretVersion): SecretVersion {
  if (Object.isFrozen(secret)) return secret;
  return Object.freeze({ ...secret, tags: Object.freeze({ ...secret.tags }) });
}
