/** Milliseconds since the epoch. Injected everywhere so tests control time exactly. */
export interface Clock {
  now(): number;
}

/** Delays are part of the clock so retries and back-offs run instantly under a manual clock. */
export interface Sleeper {
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type Random = () => number;
