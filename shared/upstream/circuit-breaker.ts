import type { Clock } from "../clock.js";

export type BreakerState = "closed" | "open" | "half-open";

/**
 * Per-provider circuit breaker: after `failureThreshold` consecutive failed fetches it opens for
 * `openMs`, then lets exactly one trial through (half-open); success closes it.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;

  constructor(
    private readonly clock: Clock,
    private readonly failureThreshold: number,
    private readonly openMs: number,
  ) {}

  get state(): BreakerState {
    if (this.openedAt === undefined) return "closed";
    return this.clock.now() - this.openedAt >= this.openMs ? "half-open" : "open";
  }

  /** Milliseconds until a trial is allowed; 0 when a call may go ahead now. */
  blockedForMs(): number {
    const state = this.state;
    if (state === "closed") return 0;
    if (state === "open") return this.openMs - (this.clock.now() - (this.openedAt ?? 0));
    return this.trialInFlight ? this.openMs : 0;
  }

  /** Call before an attempt; returns false when the call must fail fast. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.trialInFlight = false;
  }

  /**
   * The call ended for a reason that says nothing about the partner (caller cancelled, secret store
   * failed): free the half-open trial without judging, or the breaker would stay blocked for ever.
   */
  release(): void {
    this.trialInFlight = false;
  }

  onFailure(): void {
    this.trialInFlight = false;
    this.failures++;
    if (this.openedAt !== undefined || this.failures >= this.failureThreshold) this.openedAt = this.clock.now();
  }
}
