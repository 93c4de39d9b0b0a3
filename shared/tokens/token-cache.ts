import type { Clock, Random } from "../clock.js";
import type { CachePolicy } from "../config/schema.js";
import { BrokerError, isBrokerError, toBrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { IssuedCredential, PreparedSource, TokenSource } from "../providers/credential.js";
import type { FleetCoordinator, InvalidationBus, SharedCredentialStore } from "./cache-store.js";
import { computeRefreshAt } from "./refresh-schedule.js";
import { type Flight, SingleFlight } from "../single-flight.js";
import { SPANS } from "../telemetry/instruments.js";
import { noTelemetry, type SpanOptions, type Telemetry } from "../telemetry/telemetry.js";

export type CacheOutcome = "hit" | "miss" | "shared" | "forced";

export interface CacheResult {
  /** Frozen and shared between callers: treat as read-only. */
  credential: IssuedCredential;
  outcome: CacheOutcome;
  cacheKey: string;
}

/** Metadata for the operator status page: fingerprints and times, never a token value. */
export interface ProviderCacheState {
  provider: string;
  cacheKey?: string;
  issuedAt?: number;
  expiresAt?: number;
  refreshAt?: number;
  fingerprint?: string;
  lastRefreshAt?: number;
  lastError?: { code: string; detail: string; at: number };
  refreshing: boolean;
}

export interface TokenCacheDeps {
  clock: Clock;
  random: Random;
  logger: Logger;
  shared?: SharedCredentialStore;
  fleet?: FleetCoordinator;
  invalidations?: InvalidationBus;
  telemetry?: Telemetry;
}

/** The shared store and the fleet coordinator are Redis: their calls are Redis dependencies. */
const redisSpan = (operation: string, provider: string): SpanOptions => ({
  kind: "client",
  attributes: { provider, "db.system.name": "redis", "db.operation.name": operation },
});

export interface GetOptions {
  /** The credential served must stay valid at least this long. */
  minTtlSec: number;
  /** Operator refresh: always obtain a new credential, bypassing every cache. */
  force?: boolean;
}

interface Entry {
  readonly provider: string;
  readonly key: string;
  readonly credential: IssuedCredential;
  /** Order in which fetches started: an older fetch finishing late never replaces a newer result. */
  readonly generation: number;
  /**
   * The lifetime the partner actually delivered: expiry minus arrival for our own fetches (issuedAt
   * is taken before the request, so its lifetime overstates what a caller can get). Credentials
   * adopted from the shared store arrived elsewhere: their expiry minus issuedAt is the best bound.
   */
  readonly lifetimeMs: number;
  /** Mutable: pushed back after a failed background refresh. */
  refreshAt: number;
}

interface FlightMeta {
  readonly provider: string;
  /** Provider epoch at start: after an invalidation nobody joins it and its result is not stored. */
  readonly epoch: number;
}

interface ProviderRecord {
  epoch: number;
  /** Keys with a local entry (normally one; two while a new secret version is being fetched). */
  readonly keys: Set<string>;
  /** The last key asked for, so invalidate() can delete it in the shared store even without an entry. */
  lastKey?: string;
  lastRefreshAt?: number;
  lastError?: { code: string; detail: string; at: number };
}

/**
 * How long a verified hit is served again without calling `prepare()`, whose secret lookups and
 * key derivation would otherwise run on every request. A new secret version is therefore noticed
 * at most this much later; invalidations and replaced entries take effect at once.
 */
const RECHECK_MS = 1_000;

interface RecentHit {
  readonly entry: Entry;
  readonly result: CacheResult;
  readonly until: number;
}

/** Delay before retrying a failed background refresh, at most a quarter of the remaining life. */
const REFRESH_RETRY_MS = 30_000;
const MIN_REFRESH_RETRY_MS = 1_000;

/**
 * Per-instance credential cache: refresh ahead of expiry in the background, one partner call per
 * key at a time (single-flight), stale-while-valid on refresh failures, and min_ttl. An optional
 * second level (shared store + fleet coordinator + invalidation bus) makes it fleet-wide; any
 * failure there degrades to the local path and never fails a request.
 *
 * The hit path is a Map lookup and a few comparisons after `prepare()`: no hashing, no JSON, no
 * timers. Background refreshes are started by the requests that find a credential due.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new SingleFlight<IssuedCredential, FlightMeta>();
  private readonly forcedFlights = new SingleFlight<IssuedCredential, FlightMeta>();
  private readonly lookups = new SingleFlight<IssuedCredential | undefined, FlightMeta>();
  private readonly refreshing = new SingleFlight<void, FlightMeta>();
  private readonly records = new Map<string, ProviderRecord>();
  private readonly recent = new WeakMap<TokenSource, RecentHit>();
  private generations = 0;
  private readonly telemetry: Telemetry;

  constructor(private readonly deps: TokenCacheDeps) {
    this.telemetry = deps.telemetry ?? noTelemetry;
    try {
      deps.invalidations?.subscribe((provider) => {
        // Remote invalidation: drop locally only; re-broadcasting would echo round the fleet.
        this.dropLocal(provider);
        this.telemetry.add("invalidations", 1, { provider, origin: "remote" });
        this.deps.logger.log("info", "token_cache_invalidated", { provider, origin: "remote" });
      });
    } catch (error) {
      this.degraded(undefined, "subscribe", error);
    }
  }

  /**
   * A credential with at least `minTtlSec` left. Rejects only with BrokerErrors: the partner's
   * (upstream_*), the secret store's (from prepare()), or bad_request when min_ttl exceeds what the
   * provider issues.
   */
  async get(source: TokenSource, policy: CachePolicy, options: GetOptions): Promise<CacheResult> {
    const minTtlMs = Math.max(0, options.minTtlSec) * 1000;
    if (!options.force) {
      const recent = this.peek(source, options.minTtlSec);
      if (recent !== undefined) return recent;
    }
    let prepared: PreparedSource;
    try {
      prepared = await source.prepare();
    } catch (error) {
      throw toBrokerError(error);
    }
    const key = prepared.cacheKey;
    if (options.force) return this.forcedGet(source.provider, prepared, policy, minTtlMs);

    const entry = this.entries.get(key);
    if (entry !== undefined) {
      const now = this.deps.clock.now();
      const remaining = entry.credential.expiresAt - now;
      if (remaining > 0 && remaining >= minTtlMs) {
        if (now >= entry.refreshAt && !this.refreshing.has(key)) this.refreshInBackground(entry, prepared, policy);
        const result: CacheResult = { credential: entry.credential, outcome: "hit", cacheKey: key };
        this.recent.set(source, { entry, result, until: now + RECHECK_MS });
        return result;
      }
    }
    return this.miss(source.provider, prepared, policy, minTtlMs, entry);
  }

  /**
   * Operator refresh: a new credential from the partner now, past every cache (the SDK's included)
   * and past the partner's last Retry-After. The credential in service keeps being served until
   * the new one has arrived; then every instance moves to it. If the partner fails, callers see no
   * change and the error goes to the operator.
   */
  async refreshNow(source: TokenSource, policy: CachePolicy): Promise<CacheResult> {
    const result = await this.get(source, policy, { minTtlSec: 0, force: true });
    // The new credential is in the shared store already: the others drop theirs and find it there.
    await this.publish(source.provider);
    return result;
  }

  /**
   * The provider's credentials are known bad (revoked at the partner, leaked): drop them here, in
   * the shared store and on every instance. Callers then wait for a new one.
   */
  async revoke(provider: string): Promise<void> {
    await this.invalidate(provider, { broadcast: true });
  }

  /** Drops the provider's credentials here and in the shared store; `broadcast` tells the fleet. */
  async invalidate(provider: string, options: { broadcast?: boolean } = {}): Promise<void> {
    const keys = this.dropLocal(provider);
    const shared = this.deps.shared;
    if (shared) {
      try {
        if (shared.deleteProvider) await shared.deleteProvider(provider);
        else for (const key of keys) await shared.delete(key);
      } catch (error) {
        this.degraded(provider, "delete", error);
      }
    }
    if (options.broadcast) await this.publish(provider);
    this.telemetry.add("invalidations", 1, { provider, origin: "local" });
    this.deps.logger.log("info", "token_cache_invalidated", { provider, origin: "local", broadcast: Boolean(options.broadcast) });
  }

  /** Tells the other instances to drop what they hold for the provider; never rejects. */
  private async publish(provider: string): Promise<void> {
    try {
      await this.deps.invalidations?.publish(provider);
    } catch (error) {
      this.degraded(provider, "publish", error);
    }
  }

  /**
   * A hit verified less than RECHECK_MS ago, synchronously, or undefined ("call get()"). It is
   * only served while still the current entry, before its refresh time and with min_ttl left.
   */
  peek(source: TokenSource, minTtlSec: number): CacheResult | undefined {
    const recent = this.recent.get(source);
    if (recent === undefined) return undefined;
    const now = this.deps.clock.now();
    const { entry } = recent;
    if (now >= recent.until || now >= entry.refreshAt) return undefined;
    if (entry.credential.expiresAt - now < Math.max(1, minTtlSec * 1000)) return undefined;
    return this.entries.get(entry.key) === entry ? recent.result : undefined;
  }

  /**
   * Rejected-credential path (see rejected-replacement.ts): a new credential from the partner,
   * bypassing every cache, stored here and in the shared store; the other instances are told to
   * drop the old one and pick the new one up from the shared store. Unlike invalidate(), the
   * shared entry is overwritten, never deleted, so no instance falls through to its own fetch.
   */
  async replaceRejected(source: TokenSource, policy: CachePolicy): Promise<CacheResult> {
    let prepared: PreparedSource;
    try {
      prepared = await source.prepare();
    } catch (error) {
      throw toBrokerError(error);
    }
    this.record(source.provider).lastKey = prepared.cacheKey;
    const credential = await this.fetch(source.provider, prepared, policy, true);
    try {
      await this.deps.invalidations?.publish(source.provider);
    } catch (error) {
      this.degraded(source.provider, "publish", error);
    }
    return { credential, outcome: "forced", cacheKey: prepared.cacheKey };
  }

  /** Takes the replacement another instance obtained for a rejected credential, in place of ours. */
  adoptReplacement(provider: string, cacheKey: string, credential: IssuedCredential, policy: CachePolicy): void {
    const frozen = freeze(credential);
    if (this.entries.get(cacheKey)?.credential.fingerprint === frozen.fingerprint) return;
    const refreshAt = computeRefreshAt(frozen, policy, this.deps.random);
    this.store(provider, cacheKey, frozen, refreshAt, ++this.generations, frozen.expiresAt - frozen.issuedAt);
  }

  /** `refreshing` is true while any partner call or background refresh for the provider runs. */
  state(provider: string): ProviderCacheState {
    const record = this.records.get(provider);
    const current = record ? this.newestEntry(record) : undefined;
    let refreshing = false;
    for (const flights of [this.refreshing, this.flights, this.forcedFlights]) {
      for (const flight of flights.flights()) if (flight.meta.provider === provider) refreshing = true;
    }
    const credential = current?.credential;
    return {
      provider,
      cacheKey: current?.key,
      issuedAt: credential?.issuedAt,
      expiresAt: credential?.expiresAt,
      refreshAt: current?.refreshAt,
      fingerprint: credential?.fingerprint,
      lastRefreshAt: record?.lastRefreshAt,
      lastError: record?.lastError ? { ...record.lastError } : undefined,
      refreshing,
    };
  }

  private async forcedGet(provider: string, prepared: PreparedSource, policy: CachePolicy, minTtlMs: number): Promise<CacheResult> {
    this.record(provider).lastKey = prepared.cacheKey;
    const credential = await this.fetch(provider, prepared, policy, true);
    this.assertMinTtl(credential, minTtlMs);
    return { credential, outcome: "forced", cacheKey: prepared.cacheKey };
  }

  private async miss(
    provider: string,
    prepared: PreparedSource,
    policy: CachePolicy,
    minTtlMs: number,
    insufficient: Entry | undefined,
  ): Promise<CacheResult> {
    const key = prepared.cacheKey;
    const record = this.record(provider);
    record.lastKey = key;
    // This key already produced a credential too short for this caller: a new one would be too,
    // so answer without a partner call (a caller retrying a bad min_ttl must not hammer the partner).
    // Only while that credential is valid: an expired one (perhaps a one-off short answer) says
    // nothing about the next, and would otherwise refuse these callers until a restart.
    if (insufficient !== undefined && insufficient.credential.expiresAt > this.deps.clock.now() && minTtlMs > insufficient.lifetimeMs) {
      throw minTtlTooLong(insufficient.lifetimeMs);
    }

    let credential: IssuedCredential;
    try {
      const fromShared = await this.tryShared(provider, prepared, policy, minTtlMs, record);
      if (fromShared) return { credential: fromShared, outcome: "shared", cacheKey: key };
      credential = await this.fetch(provider, prepared, policy, false);
    } catch (error) {
      const failure = toBrokerError(error);
      const previous = this.previousKeyEntry(record, key, minTtlMs);
      if (previous === undefined) throw failure;
      // The secret changed but the new credential cannot be obtained yet: the one built from the
      // previous secret version is still valid, so keep the caller working.
      this.deps.logger.log("warn", "token_served_previous_key", { provider, code: failure.code, fingerprint: previous.credential.fingerprint });
      return { credential: previous.credential, outcome: "hit", cacheKey: previous.key };
    }
    this.assertMinTtl(credential, minTtlMs);
    return { credential, outcome: "miss", cacheKey: key };
  }

  /** A credential from the shared store good enough for this caller, adopted locally; else undefined. */
  private async tryShared(
    provider: string,
    prepared: PreparedSource,
    policy: CachePolicy,
    minTtlMs: number,
    record: ProviderRecord,
  ): Promise<IssuedCredential | undefined> {
    const key = prepared.cacheKey;
    // A partner call already under way is fresher than anything the store holds: join it instead.
    if (!this.deps.shared || this.flights.has(key) || this.forcedFlights.has(key)) return undefined;
    const epoch = record.epoch;
    const candidate = await this.lookupShared(provider, key, epoch);
    if (candidate === undefined || record.epoch !== epoch) return undefined;
    const now = this.deps.clock.now();
    const remaining = candidate.expiresAt - now;
    if (!(remaining > 0 && remaining >= minTtlMs)) return undefined;
    const entry = this.adopt(provider, key, candidate, computeRefreshAt(candidate, policy, this.deps.random));
    if (entry !== undefined && now >= entry.refreshAt && !this.refreshing.has(key)) this.refreshInBackground(entry, prepared, policy);
    return candidate;
  }

  private refreshInBackground(entry: Entry, prepared: PreparedSource, policy: CachePolicy): void {
    void this.refreshing.start(entry.key, () => this.refresh(entry, prepared, policy), { provider: entry.provider, epoch: this.record(entry.provider).epoch });
  }

  /** Never rejects: a failed refresh leaves the still-valid entry in place. */
  private async refresh(entry: Entry, prepared: PreparedSource, policy: CachePolicy): Promise<void> {
    const { provider, key } = entry;
    const record = this.record(provider);
    try {
      if (this.deps.shared) {
        // In a fleet another instance may have refreshed already: take its credential if it is
        // newer than ours and not itself due, rather than calling the partner again.
        const epoch = record.epoch;
        const candidate = await this.lookupShared(provider, key, epoch);
        if (candidate !== undefined && record.epoch === epoch && candidate.expiresAt > entry.credential.expiresAt) {
          const refreshAt = computeRefreshAt(candidate, policy, this.deps.random);
          if (this.deps.clock.now() < refreshAt) {
            this.adopt(provider, key, candidate, refreshAt);
            return;
          }
        }
      }
      await this.fetch(provider, prepared, policy, false);
    } catch (error) {
      const failure = toBrokerError(error);
      const now = this.deps.clock.now();
      this.deps.logger.log("warn", "token_refresh_failed", { provider, code: failure.code, ...errorFields(failure) });
      if (this.entries.get(key) === entry) {
        // Back off instead of retrying on every request while the partner is down.
        const remaining = entry.credential.expiresAt - now;
        const delay = Math.max(MIN_REFRESH_RETRY_MS, Math.min(REFRESH_RETRY_MS, remaining / 4), (failure.retryAfterSec ?? 0) * 1000);
        entry.refreshAt = now + delay;
      }
    }
  }

  /** Single-flight partner call per key; a forced call never joins a non-forced one. */
  private fetch(provider: string, prepared: PreparedSource, policy: CachePolicy, forced: boolean): Promise<IssuedCredential> {
    const key = prepared.cacheKey;
    const record = this.record(provider);
    const inFlight = forced ? this.forcedFlights.current(key) : (this.current(this.forcedFlights.current(key), record) ?? this.flights.current(key));
    if (inFlight !== undefined && inFlight.meta.epoch === record.epoch) {
      this.telemetry.add("singleFlightWaits", 1, { provider, scope: "local" });
      return inFlight.promise;
    }

    const epoch = record.epoch;
    const generation = ++this.generations;
    const flights = forced ? this.forcedFlights : this.flights;
    return flights.start(key, () => this.runFetch(provider, prepared, policy, forced, epoch, generation), { provider, epoch });
  }

  private current<T>(flight: Flight<T, FlightMeta> | undefined, record: ProviderRecord): Flight<T, FlightMeta> | undefined {
    return flight !== undefined && flight.meta.epoch === record.epoch ? flight : undefined;
  }

  private async runFetch(
    provider: string,
    prepared: PreparedSource,
    policy: CachePolicy,
    forced: boolean,
    epoch: number,
    generation: number,
  ): Promise<IssuedCredential> {
    const record = this.record(provider);
    try {
      // Forced refreshes bypass the fleet: joining another instance's fetch could hand back a
      // credential obtained before the operator asked.
      const fleet = this.deps.fleet;
      const obtained =
        forced || fleet === undefined
          ? await this.issueAndShare(provider, prepared, forced, record, epoch)
          : await this.issueThroughFleet(fleet, provider, prepared, record, epoch);
      const credential = freeze(obtained);
      // A lifetime shorter than the round trip: expired on arrival, so never cached nor served.
      if (!(credential.expiresAt > this.deps.clock.now())) {
        throw new BrokerError("upstream_rejected", `Partner for "${provider}" returned a credential that had expired by the time it arrived.`);
      }
      if (record.epoch === epoch) {
        const now = this.deps.clock.now();
        const refreshAt = computeRefreshAt(credential, policy, this.deps.random);
        this.store(provider, prepared.cacheKey, credential, refreshAt, generation, credential.expiresAt - now);
        record.lastRefreshAt = now;
      }
      this.deps.logger.log("info", "token_fetched", {
        provider,
        fingerprint: credential.fingerprint,
        expires_at: new Date(credential.expiresAt).toISOString(),
        forced,
      });
      return credential;
    } catch (error) {
      const failure = toBrokerError(error);
      record.lastError = { code: failure.code, detail: failure.detail, at: this.deps.clock.now() };
      throw failure;
    }
  }

  /** Fetches outside a fleet flight (no coordinator, or an operator-forced refresh) and shares the result. */
  private async issueAndShare(
    provider: string,
    prepared: PreparedSource,
    forced: boolean,
    record: ProviderRecord,
    epoch: number,
  ): Promise<IssuedCredential> {
    const credential = await prepared.issue({ force: forced });
    const shared = this.deps.shared;
    // Awaited: once the caller has it, other instances find it in the shared store too.
    if (shared && record.epoch === epoch) {
      try {
        await this.telemetry.span(SPANS.sharedCachePut, redisSpan("put", provider), () => shared.put(prepared.cacheKey, credential));
      } catch (error) {
        this.degraded(provider, "put", error);
      }
    }
    return credential;
  }

  private async issueThroughFleet(
    fleet: FleetCoordinator,
    provider: string,
    prepared: PreparedSource,
    record: ProviderRecord,
    epoch: number,
  ): Promise<IssuedCredential> {
    // Tells a partner failure (rethrown as is) from a coordinator failure (degrade to local).
    const own: { value?: IssuedCredential; error?: { cause: unknown } } = {};
    const run = async (): Promise<IssuedCredential> => {
      try {
        // No put here: the coordinator writes the result, fenced by its lease and only while
        // shouldStore() says no invalidation has overtaken this flight.
        own.value = await prepared.issue({ force: false });
        return own.value;
      } catch (error) {
        own.error = { cause: error };
        throw error;
      }
    };
    try {
      const credential = await this.telemetry.span(SPANS.fleetSingleFlight, redisSpan("single_flight", provider), () =>
        fleet.singleFlight(prepared.cacheKey, run, { shouldStore: () => record.epoch === epoch }),
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

  /** Deduplicated shared-store read; never rejects (a failing store is a miss). */
  private lookupShared(provider: string, key: string, epoch: number): Promise<IssuedCredential | undefined> {
    const existing = this.lookups.current(key);
    if (existing !== undefined && existing.meta.epoch === epoch) return existing.promise;
    return this.lookups.start(key, () => this.readShared(provider, key), { provider, epoch });
  }

  private async readShared(provider: string, key: string): Promise<IssuedCredential | undefined> {
    try {
      const shared = this.deps.shared;
      const credential = shared && (await this.telemetry.span(SPANS.sharedCacheGet, redisSpan("get", provider), () => shared.get(key)));
      return isCredential(credential) ? freeze(credential) : undefined;
    } catch (error) {
      this.degraded(provider, "get", error);
      return undefined;
    }
  }

  /** Stores a credential read from the shared store; returns the entry now cached for the key. */
  private adopt(provider: string, key: string, credential: IssuedCredential, refreshAt: number): Entry | undefined {
    const local = this.entries.get(key);
    if (local !== undefined && local.credential.expiresAt >= credential.expiresAt) return local;
    this.store(provider, key, credential, refreshAt, ++this.generations, credential.expiresAt - credential.issuedAt);
    this.record(provider).lastRefreshAt = this.deps.clock.now();
    return this.entries.get(key);
  }

  /** Puts the entry in and drops the provider's other keys, unless a newer fetch already won. */
  private store(provider: string, key: string, credential: IssuedCredential, refreshAt: number, generation: number, lifetimeMs: number): void {
    const record = this.record(provider);
    for (const other of record.keys) {
      const entry = this.entries.get(other);
      if (entry !== undefined && entry.generation > generation) return;
    }
    for (const other of record.keys) if (other !== key) this.entries.delete(other);
    record.keys.clear();
    record.keys.add(key);
    this.entries.set(key, { provider, key, credential, generation, lifetimeMs, refreshAt });
  }

  private previousKeyEntry(record: ProviderRecord, key: string, minTtlMs: number): Entry | undefined {
    const now = this.deps.clock.now();
    for (const other of record.keys) {
      if (other === key) continue;
      const entry = this.entries.get(other);
      const remaining = entry === undefined ? 0 : entry.credential.expiresAt - now;
      if (entry !== undefined && remaining > 0 && remaining >= minTtlMs) return entry;
    }
    return undefined;
  }

  private newestEntry(record: ProviderRecord): Entry | undefined {
    let newest: Entry | undefined;
    for (const key of record.keys) {
      const entry = this.entries.get(key);
      if (entry !== undefined && (newest === undefined || entry.generation > newest.generation)) newest = entry;
    }
    return newest;
  }

  private dropLocal(provider: string): string[] {
    const record = this.records.get(provider);
    if (record === undefined) return [];
    record.epoch++;
    const keys = new Set(record.keys);
    if (record.lastKey !== undefined) keys.add(record.lastKey);
    for (const key of record.keys) this.entries.delete(key);
    record.keys.clear();
    return [...keys];
  }

  private record(provider: string): ProviderRecord {
    let record = this.records.get(provider);
    if (record === undefined) {
      record = { epoch: 0, keys: new Set() };
      this.records.set(provider, record);
    }
    return record;
  }

  private assertMinTtl(credential: IssuedCredential, minTtlMs: number): void {
    const remaining = credential.expiresAt - this.deps.clock.now();
    if (!(remaining > 0 && remaining >= minTtlMs)) throw minTtlTooLong(remaining);
  }

  private degraded(provider: string | undefined, operation: string, error: unknown): void {
    this.telemetry.add("sharedCacheDegraded", 1, { operation });
    this.deps.logger.log("warn", "shared_cache_degraded", { provider, operation, ...errorFields(error) });
  }
}

function minTtlTooLong(lifetimeMs: number): BrokerError {
  const seconds = Math.max(0, Math.floor(lifetimeMs / 1000));
  return new BrokerError("bad_request", `min_ttl exceeds the lifetime this provider issues (${seconds} s).`);
}

/** Cached credentials are handed to many callers: freeze them so none can alter another's. */
function freeze(credential: IssuedCredential): IssuedCredential {
  if (Object.isFrozen(credential)) return credential;
  return Object.freeze({ ...credential, headers: Object.freeze({ ...credential.headers }) });
}

/** Shape check for what comes back from the second level (its adapter validates the payload). */
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
