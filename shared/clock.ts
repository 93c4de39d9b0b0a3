/** Milliseconds since the epoch. Injected everywhere so tests control time exactly. */
export interface Clock {
  now(): number;
}

/** Delays are part of the clock so retries and back-offs run instantly under a manual clock. */
export interface Sleeper {
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Resolves once `ms` have passed: a deadline raced against real work (an HTTP call). Abort
   * `signal` when the work is over to free the timer (the promise then rejects with its reason).
   * Unlike sleep(), a manual clock never moves time forward for it: it fires once time is moved
   * past it, so the work it guards gets its chance.
   */
  deadline(ms: number, signal: AbortSignal): Promise<void>;
}

export type Random = () => number;

/** The one way the broker writes an instant: ISO 8601 in UTC; an absent instant stays absent. */
export function iso(ms: number): string;
export function iso(ms: number | undefined): string | undefined;
export function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
