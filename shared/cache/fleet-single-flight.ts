import type { Clock, Sleeper } from "../clock.js";
import { ERROR_TITLES, type ErrorCode } from "../errors/codes.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import type { Logger } from "../log/logger.js";
import { ThrottledLog } from "../log/throttled-log.js";
import type { IssuedCredential } from "../providers/credential.js";
import type { FleetCoordinator, FleetFlightOptions } from "../tokens/backplane.js";
import { acquireLease, toToken } from "./fenced-lease.js";
import { completionMessage, FINISH_SCRIPT, parseCompletion, parseFailure, STATE_SCRIPT } from "./flight-protocol.js";
import { DEFAULT_FLIGHT_TIMINGS, type FlightTimings, isFresh, LeaseWait, type PeerFailure } from "./lease-wait.js";
import type { RedisConnection } from "./redis-connection.js";
import { providerOfCacheKey, type RedisKeys } from "./redis-keys.js";

/** Where a flight's result lives: the encrypted credential store (encrypted-credential-store.ts). */
export interface FlightResults {
  /** A raw value read in the coordinator's atomic snapshot, as a credential (undefined if none or unreadable). */
  decode(key: string, raw: unknown): Promise<IssuedCredential | undefined>;
  /** The holder's write, only while it still holds the lease. */
  putIfHolding(key: string, credential: IssuedCredential, fence: { lockKey: string; token: number }): Promise<boolean>;
}

export interface RedisFleetCoordinatorOptions {
  connection: RedisConnection;
  results: FlightResults;
  keys: RedisKeys;
  clock: Clock;
  sleeper: Sleeper;
  logger: Logger;
  /** Lease and wait tuning; DEFAULT_FLIGHT_TIMINGS for anything left out. */
  timings?: Partial<FlightTimings>;
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

interface FlightState {
  lockToken: number | undefined;
  value: IssuedCredential | undefined;
  failure: PeerFailure | undefined;
}

/** One singleFlight call: what it fetches with, and whether its result may still be stored. */
interface FlightCall {
  readonly key: string;
  readonly fetch: () => Promise<IssuedCredential>;
  readonly options: FleetFlightOptions;
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
  private readonly timings: FlightTimings;
  private readonly waits = new Map<string, Set<LeaseWait>>();
  /** One `fleet_single_flight_degraded` line per reason and 10 s. */
  private readonly degradedLog: ThrottledLog;
  private localFetches = 0;
  private followers = 0;

  constructor(private readonly options: RedisFleetCoordinatorOptions) {
    this.keys = options.keys;
    this.timings = { ...DEFAULT_FLIGHT_TIMINGS, ...options.timings };
    this.degradedLog = new ThrottledLog(options.logger, options.clock, 10_000);
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
    const call: FlightCall = { key, fetch, options };
    const startedAt = this.options.clock.now();
    const initial = await this.readState(key);
    if (initial === undefined) return this.fetchLocally(call, "state");
    if (initial.value !== undefined && isFresh(initial.value, startedAt, this.timings)) return initial.value;

    // Listening before the lease attempt, so no completion message is missed.
    const wait = new LeaseWait(this.options.clock, this.options.sleeper, this.timings, startedAt, initial.value);
    this.listen(key, wait);
    try {
      const attempt = await this.acquire(key);
      if (!attempt.ok) return await this.fetchLocally(call, "acquire");
      if (attempt.value.acquired) {
        this.unlisten(key, wait);
        return await this.lead(call, attempt.value.token);
      }
      wait.begin(attempt.value.holder ?? 0);
      this.followers++;
      try {
        return await this.follow(call, wait);
      } finally {
        this.followers--;
      }
    } finally {
      this.unlisten(key, wait);
    }
  }

  private acquire(key: string) {
    return acquireLease(this.options.connection, "flight_acquire", this.keys.flightLock(key), this.keys.flightFence(key), this.timings.lockTtlMs);
  }

  private async lead(call: FlightCall, token: number): Promise<IssuedCredential> {
    const { key } = call;
    let credential: IssuedCredential;
    try {
      credential = await call.fetch();
    } catch (error) {
      const failure = toBrokerError(error);
      const retryAfterSec = failure.retryAfterSec === undefined ? undefined : Math.min(86_400, Math.max(0, failure.retryAfterSec));
      await this.finish(key, token, { token, code: failure.code, retryAfterSec });
      throw error;
    }
    // A stale result (invalidated meanwhile) is not written: waiters then see the lease go without
    // a value and one of them takes over, rather than adopting a pre-refresh credential.
    if (call.options.shouldStore?.() ?? true) {
      await this.options.results.putIfHolding(key, credential, { lockKey: this.keys.flightLock(key), token });
    }
    await this.finish(key, token, undefined);
    return credential;
  }

  /** Releases the lease (recording a failure first) and announces the outcome; never throws. */
  private async finish(key: string, token: number, failure: PeerFailure | undefined): Promise<void> {
    const { connection } = this.options;
    const result = await connection.run("flight_finish", (client) =>
      client.eval(FINISH_SCRIPT, {
        keys: [this.keys.flightLock(key), this.keys.flightFailure(key)],
        arguments: [String(token), failure ? JSON.stringify(failure) : "", String(this.timings.failureTtlMs)],
      }),
    );
    const stillHolder = result.ok && result.value === 1;
    // A holder that lost its lease must not fail its successor's waiters; a success is always
    // worth announcing (waiters re-read the store, they do not trust the message).
    if (failure !== undefined && !stillHolder) return;
    await connection.publish(this.keys.flightChannel(), completionMessage(key, token, failure));
  }

  /** Waits for the holder's result, takes the lease over when it goes without one, or gives up and fetches. */
  private async follow(call: FlightCall, wait: LeaseWait): Promise<IssuedCredential> {
    const { key } = call;
    for (;;) {
      await wait.next();
      const heard = wait.heardFailure();
      if (heard !== undefined) throw peerFailure(heard);

      const state = await this.readState(key);
      if (state === undefined) {
        const giveUp = wait.readFailed(this.options.connection.healthy);
        if (giveUp !== undefined) return this.fetchLocally(call, giveUp);
        continue;
      }
      wait.readSucceeded();
      if (state.value !== undefined && wait.isNew(state.value)) return state.value;
      const failed = wait.ends(state.failure);
      if (failed !== undefined) throw peerFailure(failed);

      let current = state.lockToken;
      if (current === undefined) {
        // Lease gone with no result for us: the holder died or could not write. One of us takes over.
        const attempt = await this.acquire(key);
        if (!attempt.ok) return this.fetchLocally(call, "takeover");
        if (attempt.value.acquired) {
          this.options.logger.log("info", "fleet_flight_takeover", { provider: providerOfCacheKey(key), fencing_token: attempt.value.token });
          this.unlisten(key, wait);
          return this.lead(call, attempt.value.token);
        }
        current = attempt.value.holder;
      }
      if (!wait.follow(current)) return this.fetchLocally(call, "takeovers");
      if (wait.expired()) return this.fetchLocally(call, "wait_timeout");
    }
  }

  private async readState(key: string): Promise<FlightState | undefined> {
    const result = await this.options.connection.run("flight_state", (client) =>
      client.eval(STATE_SCRIPT, { keys: [this.keys.flightLock(key), this.keys.credential(key), this.keys.flightFailure(key)] }),
    );
    if (!result.ok || !Array.isArray(result.value)) return undefined;
    const [lock, raw, failure] = result.value as unknown[];
    return {
      lockToken: toToken(lock),
      value: await this.options.results.decode(key, raw),
      failure: parseFailure(failure),
    };
  }

  private async fetchLocally(call: FlightCall, reason: string): Promise<IssuedCredential> {
    this.localFetches++;
    this.degradedLog.log("warn", reason, "fleet_single_flight_degraded", { provider: providerOfCacheKey(call.key), reason, local_fetches: this.localFetches });
    return call.fetch();
  }

  private onMessage(raw: string): void {
    const message = parseCompletion(raw);
    if (message === undefined) return;
    for (const wait of this.waits.get(message.key) ?? []) wait.notify(message.failure);
  }

  private listen(key: string, wait: LeaseWait): void {
    let set = this.waits.get(key);
    if (set === undefined) {
      set = new Set();
      this.waits.set(key, set);
    }
    set.add(wait);
  }

  private unlisten(key: string, wait: LeaseWait): void {
    const set = this.waits.get(key);
    if (set === undefined) return;
    set.delete(wait);
    if (set.size === 0) this.waits.delete(key);
  }
}

function peerFailure(failure: PeerFailure): PeerFlightError {
  return new PeerFlightError(failure.code, failure.retryAfterSec);
}
