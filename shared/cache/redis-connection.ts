import { createClient } from "redis";
import type { Clock, Random, Sleeper } from "../clock.js";
import { errorFields, type Logger } from "../log/logger.js";
import { ThrottledLog } from "../log/throttled-log.js";
import type { StreamingRedisCredentials } from "./entra-redis-credentials.js";
import { type CommandResult, type DegradedCounts, RedisCommands } from "./redis-commands.js";
import { backoffDelay } from "../backoff.js";

export type RedisCommandClient = ReturnType<typeof createClient>;

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

export interface RedisConnectionStatus extends DegradedCounts {
  healthy: boolean;
  commandClientReady: boolean;
  subscriberReady: boolean;
  connectionErrors: number;
  reconnects: number;
  entraTokenExpiresAt?: number;
}

const BASE_RECONNECT_DELAY_MS = 50;

type Listener = (message: string) => void;

/**
 * The broker's Redis adapter: a command client and a separate subscriber client (a subscribed
 * connection cannot be relied on for ordinary commands, and a slow subscriber must not delay
 * them). Redis is an optimisation here, never a dependency: while it is unreachable every
 * operation fails fast through `run()` (RedisCommands: no offline queue, counted and logged,
 * throttled), and node-redis reconnects in the background with capped exponential back-off.
 * Subscriptions are re-established after every reconnect.
 */
export class RedisConnection {
  readonly client: RedisCommandClient;
  readonly subscriber: RedisCommandClient;
  private readonly logger: Logger;
  private readonly sleeper: Sleeper;
  private readonly commandTimeoutMs: number;
  private readonly throttledLog: ThrottledLog;
  private readonly commands: RedisCommands;
  private readonly entra: RedisCredentialsSource | undefined;
  private readonly channels = new Map<string, { listeners: Set<Listener>; dispatch: (message: string) => void }>();
  private connectionErrors = 0;
  private reconnects = 0;
  private readyOnce = { client: false, subscriber: false };
  private closed = false;

  constructor(options: RedisConnectionOptions) {
    this.logger = options.logger;
    this.sleeper = options.sleeper;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 250;
    this.throttledLog = new ThrottledLog(options.logger, options.clock, options.logIntervalMs ?? 10_000);
    this.commands = new RedisCommands({
      clock: options.clock,
      sleeper: options.sleeper,
      commandTimeoutMs: this.commandTimeoutMs,
      log: this.throttledLog,
    });
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
    const degraded = this.commands.degradedCounts();
    return {
      healthy: this.healthy,
      commandClientReady: this.client.isReady,
      subscriberReady: this.subscriber.isReady,
      degradedOperations: degraded.degradedOperations,
      degradedByOperation: degraded.degradedByOperation,
      connectionErrors: this.connectionErrors,
      reconnects: this.reconnects,
      lastDegradedAt: degraded.lastDegradedAt,
      entraTokenExpiresAt: this.entra?.expiresAt,
    };
  }

  /**
   * Runs one command (or a few pipelined ones) on the command client with the per-command
   * timeout. Never throws: failures are counted under `operation`, logged without messages, and
   * returned as `{ok:false}`.
   */
  run<T>(operation: string, command: (client: RedisCommandClient) => Promise<T>): Promise<CommandResult<T>> {
    return this.commands.run(operation, !this.closed && this.client.isReady, () => command(this.client));
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
      this.throttledLog.log("warn", `connection:${role}`, "redis_connection_error", { role, ...errorFields(error) });
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
    try {
      await this.commands.withTimeout(() => this.subscriber.subscribe(channel, dispatch));
    } catch (error) {
      // Retried on the next "ready" of the subscriber; meanwhile the pollers cover lost messages.
      this.commands.degraded("subscribe", error);
    }
  }
}

export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  return new RedisConnection(options);
}
