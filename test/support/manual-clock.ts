import type { Clock, Sleeper } from "../../shared/clock.js";

interface Pending {
  at: number;
  resolve(): void;
}

/**
 * A clock tests move by hand; sleeping advances it instantly, so retries cost no real time.
 * Deadlines (timeouts raced against real work) fire only when time is moved past them, by
 * advance() or by a sleep.
 */
export class ManualClock implements Clock, Sleeper {
  readonly sleeps: number[] = [];
  private readonly pending = new Set<Pending>();
  constructor(private current = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
    this.fireDue();
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.advance(ms);
  }
  deadline(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const entry: Pending = { at: this.current + ms, resolve };
      this.pending.add(entry);
      signal.addEventListener(
        "abort",
        () => {
          this.pending.delete(entry);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }
  /** Deadlines waiting to fire (tests wait for an attempt to be under way before moving time). */
  get pendingDeadlines(): number {
    return this.pending.size;
  }
  private fireDue(): void {
    for (const entry of this.pending) {
      if (entry.at <= this.current) {
        this.pending.delete(entry);
        entry.resolve();
      }
    }
  }
}
