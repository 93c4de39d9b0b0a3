import { z } from "zod";
import type { Clock, Sleeper } from "../clock.js";
import { ERROR_STATUS, ERROR_TITLES, type ErrorCode } from "../errors/codes.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import type { Logger } from "../log/logger.js";
import type { IssuedCredential } from "../providers/credential.js";
import type { FleetCoordinator, FleetFlightOptions } from "../tokens/backplane.js";
import type { RedisCredentialStore } from "./encrypted-credential-store.js";
import { acquireLease, toToken } from "./fenced-lease.js";
import type { RedisConnection } from "./redis-connection.js";
import { providerOfCacheKey, type RedisKeys } from "./redis-keys.js";

export interface RedisFleetCoordinatorOptions {
  connection: RedisConnection;
  store: RedisCredentialStore;
  clock: Clock;
  sleeper: Sleeper;
  logger: Logger;
  /** Defaults to the store's key layout. */
  keys?: RedisKeys;
  /** Lease of a flight holder: longer than the slowest partner call with its retries (default 30 s). */
  lockTtlMs?: number;
  /** Waiters give a holder lockTtlMs plus this before fetching themselves (default 2 s). */
  waitMarginMs?: number;
  /** Polling of waiters, doubling from min to max: covers lost pub/sub messages (defaults 25/250 ms). */
  minPollMs?: number;
  maxPollMs?: number;
  /**
   * A stored credential issued this recently counts as the result of a concurrent flight and is
   * returned without a partner call. Older ones are what the caller already found insufficient
   * (due for refresh, too short for min_ttl), so they never end a flight. Default 5 s.
   */
  freshWithinMs?: number;
  /** New holders a waiter follows (holders that died) before it fetches itself (default 3). */
  maxTakeovers?: number;
  /** How long a holder's failure is kept for waiters that poll instead of hearing it (default 5 s). */
  failureTtlMs?: number;
}

/**
 * The failure of another instance's flight, re-raised on a waiter with the same code (and
 * Retry-After) but a generic detail: only the code crosses the fleet, never a message.
 */
export class PeerFlightError extends BrokerError {
  constructor(code: ErrorCode, retryAfterSec: number | undefined) {
    super(code, `${ERROR_TITLES[code]} (reported by another broker instance).`, { retryAfterSec });
  }
}

const CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

const FailureSchema = z
  .object({
    token: z.number().int().positive(),
    code: z.enum(CODES),
    retryAfterSec: z.number().nonnegative().max(86_400).optional(),
  })
  .strict();
type Failure = z.infer<typeof FailureSchema>;

const MessageSchema = z
  .object({
    key: z.string().min(1).max(512),
    token: z.number().int().positive(),
    outcome: z.enum(["ok", "error"]),
    code: z.enum(CODES).optional(),
    retryAfterSec: z.number().nonnegative().max(86_400).optional(),
  })
  .strict();

/** KEYS: lock, value, failure. One atomic snapshot, so "lock gone" implies the holder's writes are visible. */
const STATE_SCRIPT = `
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}`;

/** KEYS: lock, failure; ARGV: token, failure JSON or "", failure TTL. Ends a flight if still held. */
const FINISH_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
redis.call('DEL', KEYS[1])
return 1`;

/** Consecutive failed state reads (each a command timeout) after which a waiter fetches itself. */
const MAX_FAILED_STATE_READS = 3;

interface FlightState {
  lockToken: number | undefined;
  value: IssuedCredential | undefined;
  failure: Failure | undefined;
}

/** One waiting call: woken by a completion message or its poll timer, whichever comes first. */
class Waiter {
  failure: Failure | undefined;
  private woken = false;
  private wake: (() => void) | undefined;

  constructor(private readonly sleeper: Sleeper) {}

  notify(failure: Failure | undefined): void {
    if (failure !== undefined && (this.failure === undefined || failure.token > this.failure.token)) this.failure = failure;
    this.woken = true;
    this.wake?.();
  }

  async next(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const controller = new AbortController();
    this.wake = () => controller.abort();
    try {
      await this.sleeper.sleep(ms, controller.signal);
    } catch {
      // woken early
    } finally {
      this.wake = undefined;
      this.woken = false;
    }
  }
}

/**
 * Fleet-wide single-flight over Redis. The first instance to take a key's lease (SET NX PX with
 * a fencing token) calls the partner; it writes the result only while it still holds the lease,
 * records a failure as its error code, releases, and announces completion on a channel. The
 * others wait on that announcement and, because pub/sub may lose messages, also poll an atomic
 * snapshot of lease, value and failure. A lease that disappears without a result (holder died,
 * or its write failed) is taken over by one waiter. A holder's failure ends every waiter with
 * the same code, so a partner outage costs one call, not one per waiting instance.
 *
 * Redis unreachable at any point before the partner call: the call runs locally (the token
 * cache's in-process single-flight still holds it to one per instance). `fetch` runs at most
 * once per singleFlight call, and its own error is always rethrown unchanged.
 */
export class RedisFleetCoordinator implements FleetCoordinator {
  private readonly keys: RedisKeys;
  private readonly lockTtlMs: number;
  private readonly waitMarginMs: number;
  private readonly minPollMs: number;
  private readonly maxPollMs: number;
  private readonly freshWithinMs: number;
  private readonly maxTakeovers: number;
  private readonly failureTtlMs: number;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly lastDegradedLog = new Map<string, number>();
  private localFetches = 0;
  private followers = 0;

  constructor(private readonly options: RedisFleetCoordinatorOptions) {
    this.keys = options.keys ?? options.store.keys;
    this.lockTtlMs = options.lockTtlMs ?? 30_000;
    this.waitMarginMs = options.waitMarginMs ?? 2_000;
    this.minPollMs = options.minPollMs ?? 25;
    this.maxPollMs = options.maxPollMs ?? 250;
    this.freshWithinMs = options.freshWithinMs ?? 5_000;
    this.maxTakeovers = options.maxTakeovers ?? 3;
    this.failureTtlMs = options.failureTtlMs ?? 5_000;
    options.connection.subscribe(this.keys.flightChannel(), (message) => this.onMessage(message));
  }

  /** Partner calls made without fleet coordination because Redis failed (status output). */
  get degradedFetches(): number {
    return this.localFetches;
  }

  /** Calls currently waiting for another instance's flight (status output). */
  get waiting(): number {
    return this.followers;
  }

  async singleFlight(key: string, fetch: () => Promise<IssuedCredential>, options: FleetFlightOptions = {}): Promise<IssuedCredential> {
    const startedAt = this.options.clock.now();
    const initial = await this.readState(key);
    if (initial === undefined) return this.fetchLocally(key, fetch, "state");
    if (initial.value !== undefined && initial.value.issuedAt >= startedAt - this.freshWithinMs) return initial.value;

    const waiter = this.addWaiter(key);
    try {
      const attempt = await acquireLease(this.options.connection, "flight_acquire", this.keys.flightLock(key), this.keys.flightFence(key), this.lockTtlMs);
      if (!attempt.ok) return await this.fetchLocally(key, fetch, "acquire");
      if (attempt.value.acquired) {
        this.removeWaiter(key, waiter);
        return await this.lead(key, attempt.value.token, fetch, options);
      }
      return await this.follow(key, fetch, options, waiter, startedAt, initial.value, attempt.value.holder ?? 0);
    } finally {
      this.removeWaiter(key, waiter);
    }
  }

  private async lead(key: string, token: number, fetch: () => Promise<IssuedCredential>, options: FleetFlightOptions): Promise<IssuedCredential> {
    let credential: IssuedCredential;
    try {
      credential = await fetch();
    } catch (error) {
      const failure = toBrokerError(error);
      const retryAfterSec = failure.retryAfterSec === undefined ? undefined : Math.min(86_400, Math.max(0, failure.retryAfterSec));
      await this.finish(key, token, { token, code: failure.code, retryAfterSec });
      throw error;
    }
    // A stale result (invalidated meanwhile) is not written: waiters then see the lease go without
    // a value and one of them takes over, rather than adopting a pre-refresh credential.
    if (options.shouldStore?.() ?? true) {
      await this.options.store.putIfHolding(key, credential, { lockKey: this.keys.flightLock(key), token });
    }
    await this.finish(key, token, undefined);
    return credential;
  }

  /** Releases the lease (recording a failure first) and announces the outcome; never throws. */
  private async finish(key: string, token: number, failure: Failure | undefined): Promise<void> {
    const { connection } = this.options;
    const result = await connection.run("flight_finish", (client) =>
      client.eval(FINISH_SCRIPT, {
        keys: [this.keys.flightLock(key), this.keys.flightFailure(key)],
        arguments: [String(token), failure ? JSON.stringify(failure) : "", String(this.failureTtlMs)],
      }),
    );
    const stillHolder = result.ok && result.value === 1;
    // A holder that lost its lease must not fail its successor's waiters; a success is always
    // worth announcing (waiters re-read the store, they do not trust the message).
    if (failure !== undefined && !stillHolder) return;
    const message = failure
      ? { key, token, outcome: "error", code: failure.code, retryAfterSec: failure.retryAfterSec }
      : { key, token, outcome: "ok" };
    await connection.publish(this.keys.flightChannel(), JSON.stringify(message));
  }

  private async follow(
    key: string,
    fetch: () => Promise<IssuedCredential>,
    options: FleetFlightOptions,
    waiter: Waiter,
    startedAt: number,
    baseline: IssuedCredential | undefined,
    holder: number,
  ): Promise<IssuedCredential> {
    this.followers++;
    try {
      return await this.waitForHolder(key, fetch, options, waiter, startedAt, baseline, holder);
    } finally {
      this.followers--;
    }
  }

  private async waitForHolder(
    key: string,
    fetch: () => Promise<IssuedCredential>,
    options: FleetFlightOptions,
    waiter: Waiter,
    startedAt: number,
    baseline: IssuedCredential | undefined,
    holder: number,
  ): Promise<IssuedCredential> {
    const { clock } = this.options;
    let observed = holder;
    let deadline = clock.now() + this.lockTtlMs + this.waitMarginMs;
    let takeovers = 0;
    let failedReads = 0;
    let poll = this.minPollMs;
    for (;;) {
      await waiter.next(poll);
      poll = Math.min(this.maxPollMs, poll * 2);
      if (waiter.failure !== undefined && waiter.failure.token >= observed) throw peerFailure(waiter.failure);

      const state = await this.readState(key);
      if (state === undefined) {
        // A lost connection means the fleet cannot coordinate: fetch here. A single slow answer
        // on a live connection does not; but a hung Redis keeps its connections open while every
        // command times out, so a few failures in a row count as unreachable too.
        failedReads++;
        if (!this.options.connection.healthy || failedReads >= MAX_FAILED_STATE_READS) return this.fetchLocally(key, fetch, "wait");
        if (clock.now() >= deadline) return this.fetchLocally(key, fetch, "wait_timeout");
        continue;
      }
      failedReads = 0;
      if (state.value !== undefined && this.isNew(state.value, startedAt, baseline)) return state.value;
      if (state.failure !== undefined && state.failure.token >= observed) throw peerFailure(state.failure);

      let current = state.lockToken;
      if (current === undefined) {
        // Lease gone with no result for us: the holder died or could not write. One of us takes over.
        const attempt = await acquireLease(this.options.connection, "flight_acquire", this.keys.flightLock(key), this.keys.flightFence(key), this.lockTtlMs);
        if (!attempt.ok) return this.fetchLocally(key, fetch, "takeover");
        if (attempt.value.acquired) {
          this.options.logger.log("info", "fleet_flight_takeover", { provider: providerOfCacheKey(key), fencing_token: attempt.value.token });
          this.removeWaiter(key, waiter);
          return this.lead(key, attempt.value.token, fetch, options);
        }
        current = attempt.value.holder;
      }
      if (current !== undefined && current > observed) {
        if (observed > 0) takeovers++;
        observed = current;
        deadline = clock.now() + this.lockTtlMs + this.waitMarginMs;
        if (takeovers > this.maxTakeovers) return this.fetchLocally(key, fetch, "takeovers");
      }
      if (clock.now() >= deadline) return this.fetchLocally(key, fetch, "wait_timeout");
    }
  }

  /** A value written after this call started (or at least different from what it found then). */
  private isNew(value: IssuedCredential, startedAt: number, baseline: IssuedCredential | undefined): boolean {
    if (value.issuedAt >= startedAt - this.freshWithinMs) return true;
    if (baseline === undefined) return true;
    return !(value.issuedAt === baseline.issuedAt && value.expiresAt === baseline.expiresAt && value.fingerprint === baseline.fingerprint);
  }

  private async readState(key: string): Promise<FlightState | undefined> {
    const result = await this.options.connection.run("flight_state", (client) =>
      client.eval(STATE_SCRIPT, { keys: [this.keys.flightLock(key), this.keys.credential(key), this.keys.flightFailure(key)] }),
    );
    if (!result.ok || !Array.isArray(result.value)) return undefined;
    const [lock, raw, failure] = result.value as unknown[];
    return {
      lockToken: toToken(lock),
      value: await this.options.store.decode(key, raw),
      failure: parseFailure(failure),
    };
  }

  private async fetchLocally(key: string, fetch: () => Promise<IssuedCredential>, reason: string): Promise<IssuedCredential> {
    this.localFetches++;
    const now = this.options.clock.now();
    const last = this.lastDegradedLog.get(reason);
    if (last === undefined || now - last >= 10_000) {
      this.lastDegradedLog.set(reason, now);
      this.options.logger.log("warn", "fleet_single_flight_degraded", { provider: providerOfCacheKey(key), reason, local_fetches: this.localFetches });
    }
    return fetch();
  }

  private onMessage(raw: string): void {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return;
    }
    const message = MessageSchema.safeParse(json);
    if (!message.success) return;
    const waiters = this.waiters.get(message.data.key);
    if (waiters === undefined) return;
    const { token, code, retryAfterSec } = message.data;
    const failure = message.data.outcome === "error" && code !== undefined ? { token, code, retryAfterSec } : undefined;
    for (const waiter of waiters) waiter.notify(failure);
  }

  private addWaiter(key: string): Waiter {
    const waiter = new Waiter(this.options.sleeper);
    let set = this.waiters.get(key);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(key, set);
    }
    set.add(waiter);
    return waiter;
  }

  private removeWaiter(key: string, waiter: Waiter): void {
    const set = this.waiters.get(key);
    if (set === undefined) return;
    set.delete(waiter);
    if (set.size === 0) this.waiters.delete(key);
  }
}

function parseFailure(raw: unknown): Failure | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const parsed = FailureSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function peerFailure(failure: Failure): PeerFlightError {
  return new PeerFlightError(failure.code, failure.retryAfterSec);
}
