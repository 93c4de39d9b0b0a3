import type { LineSink } from "./logger.js";

/**
 * Collects log lines and writes them in one call per event-loop turn. Under load the broker
 * answers many requests per turn, and one synchronous write per audit line would cost more than
 * the rest of a cache hit. A line waits at most one turn; `flush()` writes what is pending (the
 * composition root calls it on exit).
 */
export class BatchedSink {
  private pending: string[] = [];
  private scheduled = false;

  constructor(
    private readonly write: (chunk: string) => void,
    /** Runs a callback after the current turn's I/O (setImmediate in production). */
    private readonly schedule: (callback: () => void) => void,
  ) {}

  readonly sink: LineSink = (line) => {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flush);
    }
  };

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0]! : this.pending.join("");
    this.pending = [];
    this.write(chunk);
  };
}
