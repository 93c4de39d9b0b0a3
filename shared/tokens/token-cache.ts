// Over ~250 lines on purpose: this is the token manager alone — get, miss, background refresh and
// the per-key partner flight are one state machine over the same flights and epochs. What it holds
// is local-cache.ts, where credentials come from is credential-origin.ts / fleet-level.ts.
import type { Clock, Random } from "../clock.js";
import type { CachePolicy } from "../config/provider-base-schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { IssuedCredential, PreparedSource, TokenSource } from "../providers/credential.js";
import { type Flight, SingleFlight } from "../single-flight.js";
import { noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import type { FleetBackplane } from "./backplane.js";
import { type CredentialOrigin, PartnerOrigin } from "./credential-origin.js";
import { FleetLevel } from "./fleet-level.js";
import { type CacheResult, type Entry, freeze, LocalCredentialCache, type ProviderRecord } from "./local-cache.js";

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
  /** The fleet (Redis): a shared second level, fleet-wide single-flight and invalidations. */
  backplane?: FleetBackplane;
  telemetry?: Telemetry;
}

export interface GetOptions {
  /** The credential served must stay valid at least this long. */
  minTtlSec: number;
  /** Operator refresh: always obtain a new credential, bypassing every cache. */
  force?: boolean;
}

interface FlightMeta {
  readonly provider: string;
  /** Provider epoch at start: after an invalidation nobody joins it and its result is not stored. */
  readonly epoch: number;
}

/**
 * The token manager: refresh ahead of expiry in the background, one partner call per key at a
 * time (single-flight), stale-while-valid on refresh failures, and min_ttl. What it holds is the
 * LocalCredentialCache's; where new credentials come from is its CredentialOrigin — the partner,
 * decorated by the FleetLevel when a backplane makes it fleet-wide (whose failures degrade to the
 * local path and never fail a request).
 *
 * The hit path is a Map lookup and a few comparisons after `prepare()`: no hashing, no JSON, no
 * timers, nothing awaited. Background refreshes are started by the requests that find a credential due.
 */
export class TokenCache {
  private readonly local: LocalCredentialCache;
  private readonly origin: CredentialOrigin;
  private readonly flights = new SingleFlight<IssuedCredential, FlightMeta>();
  private readonly forcedFlights = new SingleFlight<IssuedCredential, FlightMeta>();
  private readonly refreshing = new SingleFlight<void, FlightMeta>();
  private readonly telemetry: Telemetry;

  constructor(private readonly deps: TokenCacheDeps) {
    this.telemetry = deps.telemetry ?? noTelemetry;
    this.local = new LocalCredentialCache(deps.clock, deps.random);
    const partner = new PartnerOrigin();
    this.origin = deps.backplane ? new FleetLevel(partner, { backplane: deps.backplane, logger: deps.logger, telemetry: deps.telemetry }) : partner;
    this.origin.onInvalidated((provider) => {
      // Remote invalidation: drop locally only; re-broadcasting would echo round the fleet.
      this.local.drop(provider);
      this.telemetry.add("invalidations", 1, { provider, origin: "remote" });
      this.deps.logger.log("info", "token_cache_invalidated", { provider, origin: "remote" });
    });
  }

  /**
   * A credential with at least `minTtlSec` left. Rejects only with BrokerErrors: the partner's
   * (upstream_*), the secret store's (from prepare()), or bad_request when min_ttl exceeds what the
   * provider issues.
   */
  async get(source: TokenSource, policy: CachePolicy, options: GetOptions): Promise<CacheResult> {
    const minTtlMs = Math.max(0, options.minTtlSec) * 1000;
    if (!options.force) {
      const recent = this.local.peek(source, options.minTtlSec);
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

    const entry = this.local.entry(key);
    if (entry !== undefined) {
      const now = this.deps.clock.now();
      const remaining = entry.credential.expiresAt - now;
      if (remaining > 0 && remaining >= minTtlMs) {
        if (now >= entry.refreshAt && !this.refreshing.has(key)) this.refreshInBackground(entry, prepared, policy);
        return this.local.hit(source, entry, now);
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
    await this.origin.publish(source.provider);
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
    const keys = this.local.drop(provider);
    await this.origin.forget(provider, keys);
    if (options.broadcast) await this.origin.publish(provider);
    this.telemetry.add("invalidations", 1, { provider, origin: "local" });
    this.deps.logger.log("info", "token_cache_invalidated", { provider, origin: "local", broadcast: Boolean(options.broadcast) });
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
    this.local.record(source.provider).lastKey = prepared.cacheKey;
    const credential = await this.fetch(source.provider, prepared, policy, true);
    await this.origin.publish(source.provider);
    return { credential, outcome: "forced", cacheKey: prepared.cacheKey };
  }

  /** Takes the replacement another instance obtained for a rejected credential, in place of ours. */
  adoptReplacement(provider: string, cacheKey: string, credential: IssuedCredential, policy: CachePolicy): void {
    const frozen = freeze(credential);
    if (this.local.entry(cacheKey)?.credential.fingerprint === frozen.fingerprint) return;
    const refreshAt = this.local.refreshAt(frozen, policy);
    this.local.store(provider, cacheKey, frozen, refreshAt, this.local.nextGeneration(), frozen.expiresAt - frozen.issuedAt);
  }

  /** `refreshing` is true while any partner call or background refresh for the provider runs. */
  state(provider: string): ProviderCacheState {
    const record = this.local.recorded(provider);
    const current = record ? this.local.newestEntry(record) : undefined;
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
    this.local.record(provider).lastKey = prepared.cacheKey;
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
    const record = this.local.record(provider);
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
      const previous = this.local.previousKeyEntry(record, key, minTtlMs);
      if (previous === undefined) throw failure;
      // The secret changed but the new credential cannot be obtained yet: the one built from the
      // previous secret version is still valid, so keep the caller working.
      this.deps.logger.log("warn", "token_served_previous_key", { provider, code: failure.code, fingerprint: previous.credential.fingerprint });
      return { credential: previous.credential, outcome: "hit", cacheKey: previous.key };
    }
    this.assertMinTtl(credential, minTtlMs);
    return { credential, outcome: "miss", cacheKey: key };
  }

  /** A credential from the shared level good enough for this caller, adopted locally; else undefined. */
  private async tryShared(
    provider: string,
    prepared: PreparedSource,
    policy: CachePolicy,
    minTtlMs: number,
    record: ProviderRecord,
  ): Promise<IssuedCredential | undefined> {
    const key = prepared.cacheKey;
    // A partner call already under way is fresher than anything the store holds: join it instead.
    if (!this.origin.shared || this.flights.has(key) || this.forcedFlights.has(key)) return undefined;
    const epoch = record.epoch;
    const candidate = await this.origin.lookup(provider, key, epoch);
    if (candidate === undefined || record.epoch !== epoch) return undefined;
    const now = this.deps.clock.now();
    const remaining = candidate.expiresAt - now;
    if (!(remaining > 0 && remaining >= minTtlMs)) return undefined;
    const entry = this.local.adopt(provider, key, candidate, this.local.refreshAt(candidate, policy));
    if (entry !== undefined && now >= entry.refreshAt && !this.refreshing.has(key)) this.refreshInBackground(entry, prepared, policy);
    return candidate;
  }

  private refreshInBackground(entry: Entry, prepared: PreparedSource, policy: CachePolicy): void {
    const meta = { provider: entry.provider, epoch: this.local.record(entry.provider).epoch };
    void this.refreshing.start(entry.key, () => this.refresh(entry, prepared, policy), meta);
  }

  /** Never rejects: a failed refresh leaves the still-valid entry in place. */
  private async refresh(entry: Entry, prepared: PreparedSource, policy: CachePolicy): Promise<void> {
    const { provider, key } = entry;
    const record = this.local.record(provider);
    try {
      if (this.origin.shared) {
        // In a fleet another instance may have refreshed already: take its credential if it is
        // newer than ours and not itself due, rather than calling the partner again.
        const epoch = record.epoch;
        const candidate = await this.origin.lookup(provider, key, epoch);
        if (candidate !== undefined && record.epoch === epoch && candidate.expiresAt > entry.credential.expiresAt) {
          const refreshAt = this.local.refreshAt(candidate, policy);
          if (this.deps.clock.now() < refreshAt) {
            this.local.adopt(provider, key, candidate, refreshAt);
            return;
          }
        }
      }
      await this.fetch(provider, prepared, policy, false);
    } catch (error) {
      const failure = toBrokerError(error);
      this.deps.logger.log("warn", "token_refresh_failed", { provider, code: failure.code, ...errorFields(failure) });
      this.local.postpone(entry, failure.retryAfterSec);
    }
  }

  /** Single-flight partner call per key; a forced call never joins a non-forced one. */
  private fetch(provider: string, prepared: PreparedSource, policy: CachePolicy, forced: boolean): Promise<IssuedCredential> {
    const key = prepared.cacheKey;
    const record = this.local.record(provider);
    const inFlight = forced ? this.forcedFlights.current(key) : (current(this.forcedFlights.current(key), record) ?? this.flights.current(key));
    if (inFlight !== undefined && inFlight.meta.epoch === record.epoch) {
      this.telemetry.add("singleFlightWaits", 1, { provider, scope: "local" });
      return inFlight.promise;
    }

    const epoch = record.epoch;
    const generation = this.local.nextGeneration();
    const flights = forced ? this.forcedFlights : this.flights;
    return flights.start(key, () => this.runFetch(provider, prepared, policy, forced, epoch, generation), { provider, epoch });
  }

  private async runFetch(
    provider: string,
    prepared: PreparedSource,
    policy: CachePolicy,
    forced: boolean,
    epoch: number,
    generation: number,
  ): Promise<IssuedCredential> {
    const record = this.local.record(provider);
    try {
      const obtained = await this.origin.issue(provider, prepared, { forced, stillCurrent: () => record.epoch === epoch });
      const credential = freeze(obtained);
      // A lifetime shorter than the round trip: expired on arrival, so never cached nor served.
      if (!(credential.expiresAt > this.deps.clock.now())) {
        throw new BrokerError("upstream_rejected", `Partner for "${provider}" returned a credential that had expired by the time it arrived.`);
      }
      if (record.epoch === epoch) {
        const now = this.deps.clock.now();
        this.local.store(provider, prepared.cacheKey, credential, this.local.refreshAt(credential, policy), generation, credential.expiresAt - now);
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

  private assertMinTtl(credential: IssuedCredential, minTtlMs: number): void {
    const remaining = credential.expiresAt - this.deps.clock.now();
    if (!(remaining > 0 && remaining >= minTtlMs)) throw minTtlTooLong(remaining);
  }
}

/** The flight, unless an invalidation since it started makes it one nobody may join. */
function current<T>(flight: Flight<T, FlightMeta> | undefined, record: ProviderRecord): Flight<T, FlightMeta> | undefined {
  return flight !== undefined && flight.meta.epoch === record.epoch ? flight : undefined;
}

function minTtlTooLong(lifetimeMs: number): BrokerError {
  const seconds = Math.max(0, Math.floor(lifetimeMs / 1000));
  return new BrokerError("bad_request", `min_ttl exceeds the lifetime this provider issues (${seconds} s).`);
}
