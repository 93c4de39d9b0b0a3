import type { Clock, Sleeper } from "../clock.js";
import { BrokerError } from "../errors/broker-error.js";
import { errorFields } from "../log/logger.js";
import type { ThrottledLog } from "../log/throttled-log.js";

/** What every Redis operation returns: callers branch on `ok`, nothing is thrown at them. */
export type CommandResult<T> = { ok: true; value: T } | { ok: false };

/** A command took longer than the per-command timeout. */
export class RedisCommandTimeoutError extends BrokerError<"redis_command_timeout"> {
  override readonly name = "RedisCommandTimeoutError";
  constructor() {
    super("redis_command_timeout", "Redis command timed out.");
    this.message = this.detail;
  }
}

/** The command client is not connected: fail fast instead of queueing. */
export class RedisUnavailableError extends BrokerError<"redis_unavailable"> {
  override readonly name = "RedisUnavailableError";
  constructor() {
    super("redis_unavailable", "Redis is not connected.");
    this.message = this.detail;
  }
}

export interface RedisCommandsOptions {
  clock: Clock;
  /** Per-command timeouts. */
  sleeper: Sleeper;
  /** A command that has not answered by then counts as failed. */
  commandTimeoutMs: number;
  /** Receives one `redis_degraded` line per operation and interval. */
  log: ThrottledLog;
}

/** Operations that degraded (miss, local fetch, no lock) since start. */
export interface DegradedCounts {
  degradedOperations: number;
  degradedByOperation: Record<string, number>;
  lastDegradedAt?: number;
}

/**
 * How one Redis command runs: with no ready connection it fails at once (there is no offline
 * queue), otherwise it has the per-command timeout to answer. A failure is never thrown at the
 * caller: it is counted under its operation, logged without its message, and answered `{ok:false}`.
 */
export class RedisCommands {
  private readonly counts: Record<string, number> = {};
  private total = 0;
  private lastDegradedAt: number | undefined;

  constructor(private readonly options: RedisCommandsOptions) {}

  async run<T>(operation: string, ready: boolean, command: () => Promise<T>): Promise<CommandResult<T>> {
    if (!ready) {
      this.degraded(operation, new RedisUnavailableError());
      return { ok: false };
    }
    try {
      return { ok: true, value: await this.withTimeout(command) };
    } catch (error) {
      this.degraded(operation, error);
      return { ok: false };
    }
  }

  /** `command`'s answer, or a RedisCommandTimeoutError once the per-command timeout has passed. */
  async withTimeout<T>(command: () => Promise<T>): Promise<T> {
    const timer = new AbortController();
    try {
      return await Promise.race([command(), this.timeout(timer.signal)]);
    } finally {
      timer.abort();
    }
  }

  /** Counts and logs (throttled) one operation that could not use Redis. */
  degraded(operation: string, error: unknown): void {
    this.total++;
    this.counts[operation] = (this.counts[operation] ?? 0) + 1;
    this.lastDegradedAt = this.options.clock.now();
    this.options.log.log("warn", `degraded:${operation}`, "redis_degraded", {
      operation,
      count: this.counts[operation],
      ...errorFields(error),
    });
  }

  degradedCounts(): DegradedCounts {
    return { degradedOperations: this.total, degradedByOperation: { ...this.counts }, lastDegradedAt: this.lastDegradedAt };
  }

  private timeout(signal: AbortSignal): Promise<never> {
    const { sleeper, commandTimeoutMs } = this.options;
    return new Promise<never>((_, reject) => {
      sleeper
        .sleep(commandTimeoutMs, signal)
        // One more timer turn first: after a stalled event loop, timers run before pending socket
        // reads, and a reply already sitting in the buffer must win over the timeout.
        .then(() => sleeper.sleep(0, signal))
        .then(
          () => reject(new RedisCommandTimeoutError()),
          () => undefined,
        );
    });
  }
}
