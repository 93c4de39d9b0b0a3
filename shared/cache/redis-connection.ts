import { createClient } from "redis";
import type { Clock, Random, Sleeper } from "../clock.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { StreamingRedisCredentials } from "./entra-redis-credentials.js";
import { backoffDelay } from "../backoff.js";
import { BrokerError } from "../errors/broker-error.js";

export type RedisCommandClient = ReturnType<typeof createClient>;

/** What every Redis operation returns: callers branch on `ok`, nothing is thrown at them. */
export type CommandResult<T> = { ok: true; value: T } | { ok: false };

export interface RedisConnectionOptions {
  /**
   * `redis://` for a self-hosted Redis (a password may sit in the URL); `rediss://` (TLS) for Azure
   * Managed Redis (`rediss://<name>.<region>.redis.azure.net:10000`).
   */
  url: string;
  /**
   * Microsoft Entra auth (an EntraRedisCredentials: username = token `oid`, password = token); URL
   * credentials are then ignored. Passed in rather than built here so that its package is loaded
   * only by deployments that use it.
   */
  entra?: RedisCredentialsSource;
  logger: Logger;
  clock: Clock;
  /** Per-command timeouts. */
  sleeper: Sleeper;
  /** Jitter of the reconnect back-off, so a fleet does not reconnect in lock-step. */
  random?: Random;
  /** A command that has not answered by then counts as failed (default 250 ms). */
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Reconnect back-off: 50 ms doubling up to this cap (default 5 s). */
  maxReconnectDelayMs?: number;
  /** Keeps idle connections alive through load balancers (default 60 s; 0 = off). */
  pingIntervalMs?: number;
  /** Minimum interval between two log lines of the same degraded operation (default 10 s). */
  logIntervalMs?: number;
}

/** Streaming credentials for each client, and when the current ones expire. */
export interface RedisCredentialsSource {
  forClient(): StreamingRedisCredentials;
  readonly expiresAt: number | undefined;
}

export interface RedisConnectionStatus {
  healthy: boolean;
  commandClientReady: boolean;
  subscriberReady: boolean;
  /** Operations that degraded (miss, local fetch, no lock) since start. */
  degradedOperations: number;
  degradedByOperation: Record<string, number>;
  connectionErrors: number;
  reconnects: number;
  lastDegradedAt?: number;
  entraTokenExpiresAt?: number;
}

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

const BASE_RECONNECT_DELAY_MS = 50;

type Listener = (message: string) => void;

/**
 * The broker's Redis adapter: a command client and a separate subscriber client (a subscribed
 * connection cannot be relied on for ordinary commands, and a slow subscriber must not delay
 * them). Redis is an optimisation here, never a dependency: while it is unreachable every
 * operation fails fast through `run()` (no offline queue), is counted and logged (throttled),
 * and node-redis reconnects in the background with capped exponential back-off. Subscriptions
 * are re-established after every reconnect.
 */
export class RedisConnection {
  readonly client: RedisCommandClient;
  readonly subscriber: RedisCommandClient;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly sleeper: Sleeper;
  private readonly commandTimeoutMs: number;
  private readonly logIntervalMs: number;
  private readonly entra: RedisCredentialsSource | undefined;
  private readonly channels = new Map<string, { listeners: Set<Listener>; dispatch: (message: string) => void }>();
  private readonly degradedCounts: Record<string, number> = {};
  private readonly lastLogged = new Map<string, number>();
  private degradedTotal = 0;
  private lastDegradedAt: number | undefined;
  private connectionErrors = 0;
  private reconnects = 0;
  private readyOnce = { client: false, subscriber: false };
  private closed = false;

  constructor(options: RedisConnectionOptions) {
    this.logger = options.logger;
    this.clock = options.clock;
    this.sleeper = options.sleeper;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 250;
    this.logIntervalMs = options.logIntervalMs ?? 10_000;
    this.entra = options.entra;
    this.client = this.createClient(options, "client");
    this.subscriber = this.createClient(options, "subscriber");
    this.subscriber.on("ready", () => this.resubscribe());
    for (const [role, client] of [["client", this.client], ["subscriber", this.subscriber]] as const) {
      client.connect().catch((error: unknown) => {
        if (!this.closed) this.logger.log("error", "redis_connect_abandoned", { role, ...errorFields(error) });
      });
    }
  }

  get healthy(): boolean {
    return !this.closed && this.client.isReady && this.subscriber.isReady;
  }

  status(): RedisConnectionStatus {
    return {
      healthy: this.healthy,
      commandClientReady: this.client.isReady,
      subscriberReady: this.subscriber.isReady,
      degradedOperations: this.degradedTotal,
      degradedByOperation: { ...this.degradedCounts },
      connectionErrors: this.connectionErrors,
      reconnects: this.reconnects,
      lastDegradedAt: this.lastDegradedAt,
      entraTokenExpiresAt: this.entra?.expiresAt,
    };
  }

  /**
   * Runs one command (or a few pipelined ones) with the per-command timeout. Never throws:
   * failures are counted under `operation`, logged without messages, and returned as `{ok:false}`.
   */
  async run<T>(operation: string, command: (client: RedisCommandClient) => Promise<T>): Promise<CommandResult<T>> {
    if (this.closed || !this.client.isReady) {
      this.degraded(operation, new RedisUnavailableError());
      return { ok: false };
    }
    const timer = new AbortController();
    try {
      const value = await Promise.race([command(this.client), this.timeout(timer.signal)]);
      return { ok: true, value };
    } catch (error) {
      this.degraded(operation, error);
      return { ok: false };
    } finally {
      timer.abort();
    }
  }

  /** Publishes on the command client; false when Redis did not take the message. */
  async publish(channel: string, message: string): Promise<boolean> {
    const result = await this.run("publish", (client) => client.publish(channel, message));
    return result.ok;
  }

  /**
   * Registers a listener for a channel. Returns at once: the SUBSCRIBE is sent when (and every
   * time) the subscriber connection is ready, so a listener added during an outage still works
   * once Redis is back. Listener exceptions are logged, never propagated into node-redis.
   */
  subscribe(channel: string, listener: Listener): void {
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      const listeners = new Set<Listener>();
      const dispatch = (message: string) => {
        for (const l of listeners) {
          try {
            l(message);
          } catch (error) {
            this.logger.log("warn", "redis_listener_failed", errorFields(error));
          }
        }
      };
      entry = { listeners, dispatch };
      this.channels.set(channel, entry);
    }
    entry.listeners.add(listener);
    if (this.subscriber.isReady) void this.subscribeChannel(channel, entry.dispatch);
  }

  /** Resolves true once both connections are ready, false after `timeoutMs`. */
  async whenReady(timeoutMs = 5_000): Promise<boolean> {
    if (this.healthy) return true;
    const timer = new AbortController();
    const ready = (client: RedisCommandClient) =>
      client.isReady ? Promise.resolve() : new Promise<void>((resolve) => client.once("ready", () => resolve()));
    const both = Promise.all([ready(this.client), ready(this.subscriber)]).then(() => true);
    const expired = this.sleeper.sleep(timeoutMs, timer.signal).then(
      () => false,
      () => false,
    );
    try {
      return (await Promise.race([both, expired])) && this.healthy;
    } finally {
      timer.abort();
    }
  }

  /** Drops both connections at once (pending commands fail, which their callers treat as misses). */
  async close(): Promise<void> {
    if (this.closed) return;
    // Destroying a client disposes its credentials subscription, which stops the token refresh.
    this.closed = true;
    for (const client of [this.client, this.subscriber]) {
      try {
        client.destroy();
      } catch {
        // already closed
      }
    }
  }

  private createClient(options: RedisConnectionOptions, role: "client" | "subscriber"): RedisCommandClient {
    const random = options.random;
    const maxDelay = options.maxReconnectDelayMs ?? 5_000;
    const credentialsProvider: StreamingRedisCredentials | undefined = this.entra?.forClient();
    let client: RedisCommandClient;
    try {
      client = createClient({
        url: options.url,
        ...(credentialsProvider ? { credentialsProvider } : {}),
        disableOfflineQueue: true,
        pingInterval: options.pingIntervalMs === 0 ? undefined : (options.pingIntervalMs ?? 60_000),
        commandOptions: { timeout: this.commandTimeoutMs },
        // Maintenance push notifications are a Redis Enterprise feature: skip the handshake probe.
        maintNotifications: "disabled",
        socket: {
          connectTimeout: options.connectTimeoutMs ?? 2_000,
          reconnectStrategy: (retries: number) => {
            const policy = { baseMs: BASE_RECONNECT_DELAY_MS, maxMs: maxDelay, jitter: "equal", maxDoublings: 16 } as const;
            return Math.round(backoffDelay(policy, retries + 1, random));
          },
        },
      });
    } catch {
      // The message may quote the URL, which can carry the password.
      throw new TypeError("The Redis URL is not valid (expected redis:// or rediss://).");
    }
    client.on("error", (error: unknown) => {
      this.connectionErrors++;
      this.throttledLog("warn", `connection:${role}`, "redis_connection_error", { role, ...errorFields(error) });
    });
    client.on("ready", () => {
      if (this.readyOnce[role]) this.reconnects++;
      this.readyOnce[role] = true;
      this.logger.log("info", "redis_connected", { role });
    });
    return client;
  }

  private resubscribe(): void {
    for (const [channel, entry] of this.channels) void this.subscribeChannel(channel, entry.dispatch);
  }

  /** Idempotent: node-redis sends no command for a channel it is already subscribed to. */
  private async subscribeChannel(channel: string, dispatch: (message: string) => void): Promise<void> {
    const timer = new AbortController();
    try {
      await Promise.race([this.subscriber.subscribe(channel, dispatch), this.timeout(timer.signal)]);
    } catch (error) {
      // Retried on the next "ready" of the subscriber; meanwhile the pollers cover lost messages.
      this.degraded("subscribe", error);
    } finally {
      timer.abort();
    }
  }

  private timeout(signal: AbortSignal): Promise<never> {
    return new Promise<never>((_, reject) => {
      this.sleeper
        .sleep(this.commandTimeoutMs, signal)
        // One more timer turn first: after a stalled event loop, timers run before pending socket
        // reads, and a reply already sitting in the buffer must win over the timeout.
        .then(() => this.sleeper.sleep(0, signal))
        .then(
          () => reject(new RedisCommandTimeoutError()),
          () => undefined,
        );
    });
  }

  private degraded(operation: string, error: unknown): void {
    this.degradedTotal++;
    this.degradedCounts[operation] = (this.degradedCounts[operation] ?? 0) + 1;
    this.lastDegradedAt = this.clock.now();
    this.throttledLog("warn", `degraded:${operation}`, "redis_degraded", {
      operation,
      count: this.degradedCounts[operation],
      ...errorFields(error),
    });
  }

  /** One line per key and interval: an outage under load must not turn into a log flood. */
  private throttledLog(level: "warn" | "error", key: string, event: string, fields: Parameters<Logger["log"]>[2]): void {
    const now = this.clock.now();
    const last = this.lastLogged.get(key);
    if (last !== undefined && now - last < this.logIntervalMs) return;
    this.lastLogged.set(key, now);
    this.logger.log(level, event, fields);
  }
}

export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  return new RedisConnection(options);
}
