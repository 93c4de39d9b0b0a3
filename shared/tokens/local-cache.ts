import type { Clock, Random } from "../clock.js";
import type { CachePolicy } from "../config/provider-base-schema.js";
import type { IssuedCredential, TokenSource } from "../providers/credential.js";
import { computeRefreshAt } from "./refresh-schedule.js";

export type CacheOutcome = "hit" | "miss" | "shared" | "forced";

export interface CacheResult {
  /** Frozen and shared between callers: treat as read-only. */
  credential: IssuedCredential;
  outcome: CacheOutcome;
  cacheKey: string;
}

export interface Entry {
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

export interface ProviderRecord {
  /** Bumped by every invalidation: a flight started before it neither stores nor is joined. */
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
 * The instance's own credentials: one entry per cache key with its expiry and refresh-ahead time,
 * the per-provider bookkeeping (epoch, keys in use, last refresh and error) and the recently
 * verified hits `peek()` answers synchronously. No I/O and no promises: the token cache decides
 * when to fetch, this decides what is held and when it is due.
 */
export class LocalCredentialCache {
  private readonly entries = new Map<string, Entry>();
  private readonly records = new Map<string, ProviderRecord>();
  private readonly recent = new WeakMap<TokenSource, RecentHit>();
  private generations = 0;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  /**
   * A hit verified less than RECHECK_MS ago, synchronously, or undefined. It is only served while
   * still the current entry, before its refresh time and with min_ttl left.
   */
  peek(source: TokenSource, minTtlSec: number): CacheResult | undefined {
    const recent = this.recent.get(source);
    if (recent === undefined) return undefined;
    const now = this.clock.now();
    const { entry } = recent;
    if (now >= recent.until || now >= entry.refreshAt) return undefined;
    if (entry.credential.expiresAt - now < Math.max(1, minTtlSec * 1000)) return undefined;
    return this.entries.get(entry.key) === entry ? recent.result : undefined;
  }

  /** Serves `entry` as a hit and remembers it for peek(). */
  hit(source: TokenSource, entry: Entry, now: number): CacheResult {
    const result: CacheResult = { credential: entry.credential, outcome: "hit", cacheKey: entry.key };
    this.recent.set(source, { entry, result, until: now + RECHECK_MS });
    return result;
  }

  entry(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  isCurrent(entry: Entry): boolean {
    return this.entries.get(entry.key) === entry;
  }

  /** The provider's bookkeeping, created on first use. */
  record(provider: string): ProviderRecord {
    let record = this.records.get(provider);
    if (record === undefined) {
      record = { epoch: 0, keys: new Set() };
      this.records.set(provider, record);
    }
    return record;
  }

  /** The provider's bookkeeping if it was ever used (status must not create it). */
  recorded(provider: string): ProviderRecord | undefined {
    return this.records.get(provider);
  }

  /** The next fetch generation: take it when the fetch starts, not when it ends. */
  nextGeneration(): number {
    return ++this.generations;
  }

  refreshAt(credential: IssuedCredential, policy: CachePolicy): number {
    return computeRefreshAt(credential, policy, this.random);
  }

  /** Puts the entry in and drops the provider's other keys, unless a newer fetch already won. */
  store(provider: string, key: string, credential: IssuedCredential, refreshAt: number, generation: number, lifetimeMs: number): void {
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

  /** Stores a credential obtained elsewhere unless ours lasts as long; returns the entry now cached for the key. */
  adopt(provider: string, key: string, credential: IssuedCredential, refreshAt: number): Entry | undefined {
    const local = this.entries.get(key);
    if (local !== undefined && local.credential.expiresAt >= credential.expiresAt) return local;
    this.store(provider, key, credential, refreshAt, this.nextGeneration(), credential.expiresAt - credential.issuedAt);
    this.record(provider).lastRefreshAt = this.clock.now();
    return this.entries.get(key);
  }

  /** Backs a failed background refresh off instead of retrying on every request while the partner is down. */
  postpone(entry: Entry, retryAfterSec: number | undefined): void {
    if (this.entries.get(entry.key) !== entry) return;
    const now = this.clock.now();
    const remaining = entry.credential.expiresAt - now;
    const delay = Math.max(MIN_REFRESH_RETRY_MS, Math.min(REFRESH_RETRY_MS, remaining / 4), (retryAfterSec ?? 0) * 1000);
    entry.refreshAt = now + delay;
  }

  /** A still-valid entry of the provider under another key (the previous secret version). */
  previousKeyEntry(record: ProviderRecord, key: string, minTtlMs: number): Entry | undefined {
    const now = this.clock.now();
    for (const other of record.keys) {
      if (other === key) continue;
      const entry = this.entries.get(other);
      const remaining = entry === undefined ? 0 : entry.credential.expiresAt - now;
      if (entry !== undefined && remaining > 0 && remaining >= minTtlMs) return entry;
    }
    return undefined;
  }

  newestEntry(record: ProviderRecord): Entry | undefined {
    let newest: Entry | undefined;
    for (const key of record.keys) {
      const entry = this.entries.get(key);
      if (entry !== undefined && (newest === undefined || entry.generation > newest.generation)) newest = entry;
    }
    return newest;
  }

  /** Drops the provider's entries and starts a new epoch; returns every key it used. */
  drop(provider: string): string[] {
    const record = this.records.get(provider);
    if (record === undefined) return [];
    record.epoch++;
    const keys = new Set(record.keys);
    if (record.lastKey !== undefined) keys.add(record.lastKey);
    for (const key of record.keys) this.entries.delete(key);
    record.keys.clear();
    return [...keys];
  }
}

/** Cached credentials are handed to many callers: freeze them so none can alter another's. */
export function freeze(credential: IssuedCredential): IssuedCredential {
  if (Object.isFrozen(credential)) return credential;
  return Object.freeze({ ...credential, headers: Object.freeze({ ...credential.headers }) });
}
