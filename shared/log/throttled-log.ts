import type { Clock } from "../clock.js";
import type { Logger, LogFields } from "./logger.js";

/**
 * A logger for failures that repeat: one line per key and interval, later ones within the
 * interval dropped, so an outage under load does not turn into a log flood.
 */
export class ThrottledLog {
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  log(level: "warn" | "error", key: string, event: string, fields: LogFields): void {
    const now = this.clock.now();
    const last = this.lastLogged.get(key);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.lastLogged.set(key, now);
    this.logger.log(level, event, fields);
  }
}
