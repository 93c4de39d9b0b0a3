import type { LineSink } from "./logger.js";

export interface BatchedSinkOptions {
  /** Write as soon as this many characters are pending (bounds memory and the size of one write). */
  maxChars: number;
  /** A line waits at most this long before it is written. */
  maxDelayMs: number;
}

/** Defaults: a write every ~6 ms at 10k audit lines/s, and a line never waits more than 100 ms. */
export const DEFAULT_BATCH: BatchedSinkOptions = { maxChars: 16 * 1024, maxDelayMs: 100 };

/**
 * Collects log lines and writes them in batches. stdout is synchronous for files and pipes, so
 * one write per audit line costs more than the rest of a cache hit; a write per event-loop turn
 * (setImmediate) still costs several µs per request under load, because it also stops the loop
 * from waiting for more sockets. Lines are written, in order, once `maxChars` are pending or
 * `maxDelayMs` after the first of them; `flush()` writes what is pending (the composition root
 * calls it on shutdown and exit, so a graceful stop loses nothing).
 */
export class BatchedSink {
  private pending: string[] = [];
  private pendingChars = 0;
  private timerPending = false;

  constructor(
    private readonly write: (chunk: string) => void,
    /** Runs a callback once after a delay (an unref'd setTimeout in production). */
    private readonly schedule: (callback: () => void, delayMs: number) => void,
    private readonly options: BatchedSinkOptions = DEFAULT_BATCH,
  ) {}

  readonly sink: LineSink = (line) => {
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.pendingChars >= this.options.maxChars) {
      this.flush();
    } else if (!this.timerPending) {
      // One timer at a time: lines added after a size-triggered flush ride on the timer already set,
      // so they wait less than maxDelayMs, never more.
      this.timerPending = true;
      this.schedule(this.onTimer, this.options.maxDelayMs);
    }
  };

  readonly flush = (): void => {
    if (this.pending.length === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0]! : this.pending.join("");
    this.pending = [];
    this.pendingChars = 0;
    this.write(chunk);
  };

  private readonly onTimer = (): void => {
    this.timerPending = false;
    this.flush();
  };
}
