import type { Clock, Sleeper } from "../../shared/clock.js";

/**
 * A clock tests move by hand. A plain sleep (a back-off) advances it instantly, so retries cost no
 * real time. A sleep given an AbortSignal is a timer racing other work (a per-attempt timeout): it
 * fires only once the clock reaches its deadline, through `advance` or a later plain sleep, and
 * never on its own, so loopback I/O that takes real time does not lose a race it would win in
 * production.
 */
export class ManualClock implements Clock, Sleeper {
  readonly sleeps: number[] = [];
  private readonly timers = new Set<{ at: number; fire: () => void }>();
  constructor(private current = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
    this.fireDue();
  }
  /** Timers armed and not yet fired or aborted. */
  get pendingTimers(): number {
    return this.timers.size;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal === undefined) {
      this.sleeps.push(ms);
      this.advance(ms);
      return;
    }
    if (signal.aborted) throw signal.reason;
    await new Promise<void>((resolve, reject) => {
      const timer = {
        at: this.current + ms,
        fire: () => {
          signal.removeEventListener("abort", abort);
          resolve();
        },
      };
      const abort = () => {
        this.timers.delete(timer);
        reject(signal.reason);
      };
      signal.addEventListener("abort", abort, { once: true });
      this.timers.add(timer);
      this.fireDue();
    });
  }
  private fireDue(): void {
    for (const timer of [...this.timers]) {
      if (timer.at > this.current) continue;
      this.timers.delete(timer);
      timer.fire();
    }
  }
}
