import type { Clock, Sleeper } from "../../shared/clock.js";

/** A clock tests move by hand; sleeping advances it instantly, so retries cost no real time. */
export class ManualClock implements Clock, Sleeper {
  readonly sleeps: number[] = [];
  constructor(private current = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.current += ms;
  }
}
