import type { Clock, Sleeper } from "../clock.js";
import type { ErrorCode } from "../errors/codes.js";
import type { IssuedCredential } from "../providers/credential.js";

/** How a fleet flight's lease is held and waited for. */
export interface FlightTimings {
  /** Lease of a flight holder: longer than the slowest partner call with its retries (default 30 s). */
  lockTtlMs: number;
  /** Waiters give a holder lockTtlMs plus this before fetching themselves (default 2 s). */
  waitMarginMs: number;
  /** Polling of waiters, doubling from min to max: covers lost pub/sub messages (defaults 25/250 ms). */
  minPollMs: number;
  maxPollMs: number;
  /**
   * A stored credential issued this recently counts as the result of a concurrent flight and is
   * returned without a partner call. Older ones are what the caller already found insufficient
   * (due for refresh, too short for min_ttl), so they never end a flight. Default 5 s.
   */
  freshWithinMs: number;
  /** New holders a waiter follows (holders that died) before it fetches itself (default 3). */
  maxTakeovers: number;
  /** How long a holder's failure is kept for waiters that poll instead of hearing it (default 5 s). */
  failureTtlMs: number;
}

export const DEFAULT_FLIGHT_TIMINGS: FlightTimings = {
  lockTtlMs: 30_000,
  waitMarginMs: 2_000,
  minPollMs: 25,
  maxPollMs: 250,
  freshWithinMs: 5_000,
  maxTakeovers: 3,
  failureTtlMs: 5_000,
};

/** A holder's failure as it crosses the fleet: its fencing token and error code, never a message. */
export interface PeerFailure {
  token: number;
  code: ErrorCode;
  retryAfterSec?: number;
}

/** Consecutive failed state reads (each a command timeout) after which a waiter fetches itself. */
const MAX_FAILED_STATE_READS = 3;

/** Why a wait gives up and the call fetches by itself. */
export type GiveUp = "wait" | "wait_timeout" | "takeovers";

/**
 * One call's wait for the holder of a key's lease, another instance's flight. It is woken by a
 * completion message or its poll timer (doubling from minPollMs to maxPollMs, as pub/sub may lose
 * messages), gives each holder its lease plus a margin, follows at most maxTakeovers new holders,
 * and judges what the coordinator reads: a value new to this call ends the wait, a failure of the
 * holder it follows (or a later one) is the call's failure.
 */
export class LeaseWait {
  private heard: PeerFailure | undefined;
  private woken = false;
  private wake: (() => void) | undefined;
  private poll: number;
  private holder = 0;
  private deadline = 0;
  private takeovers = 0;
  private failedReads = 0;

  constructor(
    private readonly clock: Clock,
    private readonly sleeper: Sleeper,
    private readonly timings: FlightTimings,
    /** When the call started, and the credential it found then (which cannot be its answer). */
    private readonly startedAt: number,
    private readonly baseline: IssuedCredential | undefined,
  ) {
    this.poll = timings.minPollMs;
  }

  /** A completion message for the key (with the holder's failure, if it failed). */
  notify(failure: PeerFailure | undefined): void {
    if (failure !== undefined && (this.heard === undefined || failure.token > this.heard.token)) this.heard = failure;
    this.woken = true;
    this.wake?.();
  }

  /** Starts waiting for the holder of fencing token `holder` (0: unknown) for its lease and the margin. */
  begin(holder: number): void {
    this.holder = holder;
    this.deadline = this.clock.now() + this.timings.lockTtlMs + this.timings.waitMarginMs;
  }

  /** The lease is now held by `holder`: a newer one restarts the wait; false once too many took over. */
  follow(holder: number | undefined): boolean {
    if (holder === undefined || holder <= this.holder) return true;
    if (this.holder > 0) this.takeovers++;
    this.begin(holder);
    return this.takeovers <= this.timings.maxTakeovers;
  }

  /** Sleeps until a message arrives or the next poll is due. */
  async next(): Promise<void> {
    const ms = this.poll;
    this.poll = Math.min(this.timings.maxPollMs, this.poll * 2);
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

  /** A failure heard by message that ends this wait: the followed holder's or a later one's. */
  heardFailure(): PeerFailure | undefined {
    return this.ends(this.heard);
  }

  /** The failure read from Redis, if it ends this wait. */
  ends(failure: PeerFailure | undefined): PeerFailure | undefined {
    return failure !== undefined && failure.token >= this.holder ? failure : undefined;
  }

  /**
   * A state read failed. A lost connection means the fleet cannot coordinate; a single slow answer
   * on a live connection does not, but a hung Redis keeps its connections open while every command
   * times out, so a few failures in a row count as unreachable too.
   */
  readFailed(connectionHealthy: boolean): GiveUp | undefined {
    this.failedReads++;
    if (!connectionHealthy || this.failedReads >= MAX_FAILED_STATE_READS) return "wait";
    return this.expired() ? "wait_timeout" : undefined;
  }

  readSucceeded(): void {
    this.failedReads = 0;
  }

  expired(): boolean {
    return this.clock.now() >= this.deadline;
  }

  /** A value written after this call started (or at least different from what it found then). */
  isNew(value: IssuedCredential): boolean {
    return isFresh(value, this.startedAt, this.timings) || this.baseline === undefined || !sameCredential(value, this.baseline);
  }
}

/** Issued so recently that it counts as the result of a concurrent flight. */
export function isFresh(value: IssuedCredential, startedAt: number, timings: Pick<FlightTimings, "freshWithinMs">): boolean {
  return value.issuedAt >= startedAt - timings.freshWithinMs;
}

function sameCredential(a: IssuedCredential, b: IssuedCredential): boolean {
  return a.issuedAt === b.issuedAt && a.expiresAt === b.expiresAt && a.fingerprint === b.fingerprint;
}
