import type { Random } from "./clock.js";

/**
 * How a delay spreads between 0 and its capped value:
 * - `full`: anywhere in [0, cap), so a throttled fleet spreads out completely;
 * - `equal`: in [cap/2, cap), so a retry never comes back sooner than half the back-off;
 * - `none`: exactly the cap (a single process with no herd to spread).
 */
export type Jitter = "full" | "equal" | "none";

export interface BackoffPolicy {
  /** Delay after the first failure, before jitter. */
  baseMs: number;
  /** The doubling stops here. */
  maxMs: number;
  jitter: Jitter;
  /** Doublings past this many stop (keeps the power finite for a counter that never resets). */
  maxDoublings?: number;
}

/**
 * The one capped exponential back-off of the broker: `min(maxMs, baseMs * 2^(attempt-1))`, then
 * jittered. `attempt` is 1 for the wait after the first failure. Not rounded: a caller that needs
 * whole milliseconds rounds.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random?: Random): number {
  const doublings = Math.min(Math.max(0, attempt - 1), policy.maxDoublings ?? Number.POSITIVE_INFINITY);
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** doublings);
  if (policy.jitter === "none" || !random) return cap;
  if (policy.jitter === "full") return cap * random();
  return cap / 2 + (cap / 2) * random();
}
