import { decodeJwt } from "jose";
import { z } from "zod";
import type { Clock, Sleeper } from "../clock.js";
import { errorFields, type Logger } from "../log/logger.js";

/** Azure Cache for Redis accepts Entra tokens for this scope. */
export const REDIS_ENTRA_SCOPE = "https://redis.azure.com/.default";

/** The part of @azure/identity's TokenCredential used here (structural, so this file imports no SDK). */
export interface AccessTokenSource {
  getToken(scopes: string | string[], options?: { abortSignal?: AbortSignal }): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

export interface RedisAuth {
  username?: string;
  password?: string;
}

/** node-redis's StreamingCredentialsProvider, restated structurally (its authx types are not exported). */
export interface StreamingRedisCredentials {
  readonly type: "streaming-credentials-provider";
  subscribe(listener: { onNext(credentials: RedisAuth): void; onError(error: Error): void }): Promise<[RedisAuth, { dispose(): void }]>;
  onReAuthenticationError(error: Error): void;
}

export interface EntraRedisAuthOptions {
  credential: AccessTokenSource;
  clock: Clock;
  sleeper: Sleeper;
  logger: Logger;
  scope?: string;
  /** Fraction of a token's lifetime after which it is replaced (re-AUTH on every connection). */
  refreshFraction?: number;
  /** Floor between two token requests, also the first retry delay after a failure. */
  minRefreshDelayMs?: number;
  /** Cap of the retry delay after failures. */
  maxRetryDelayMs?: number;
}

const TokenSchema = z.object({ token: z.string().min(1), expiresOnTimestamp: z.number().finite() });
const ClaimsSchema = z.object({ oid: z.string().min(1) });

interface CurrentToken {
  auth: RedisAuth;
  obtainedAt: number;
  expiresAt: number;
}

interface ClientSubscription {
  onNext(credentials: RedisAuth): void;
}

/**
 * Microsoft Entra authentication for Azure Cache for Redis: the password is an access token for
 * the Redis scope and the username its `oid` claim. Tokens expire, and Redis closes connections
 * whose token has expired, so a loop replaces the token well before expiry and every connection
 * re-AUTHs with it. One token serves all the connections of an instance.
 *
 * node-redis subscribes to the provider on every (re)connect without disposing the previous
 * subscription, so each client gets its own provider (`forClient()`) that keeps only its latest
 * listener; otherwise every reconnect would add one more AUTH per refresh.
 */
export class EntraRedisAuth {
  private readonly scope: string;
  private readonly refreshFraction: number;
  private readonly minRefreshDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly clients = new Set<ClientSubscription>();
  private current: CurrentToken | undefined;
  private pending: Promise<CurrentToken> | undefined;
  private loop: AbortController | undefined;
  private closed = false;

  constructor(private readonly options: EntraRedisAuthOptions) {
    this.scope = options.scope ?? REDIS_ENTRA_SCOPE;
    this.refreshFraction = options.refreshFraction ?? 0.75;
    this.minRefreshDelayMs = options.minRefreshDelayMs ?? 1_000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  }

  /** A provider for one node-redis client. */
  forClient(): StreamingRedisCredentials {
    const slot: ClientSubscription & { listener?: { onNext(c: RedisAuth): void } } = {
      onNext: (credentials) => slot.listener?.onNext(credentials),
    };
    return {
      type: "streaming-credentials-provider",
      subscribe: async (listener) => {
        const token = await this.token();
        slot.listener = listener;
        this.clients.add(slot);
        this.startLoop();
        return [token.auth, { dispose: () => (slot.listener === listener ? this.clients.delete(slot) : undefined) }];
      },
      onReAuthenticationError: (error) => {
        this.options.logger.log("warn", "redis_reauth_failed", errorFields(error));
      },
    };
  }

  /** Epoch ms when the current token expires (status output); undefined before the first one. */
  get expiresAt(): number | undefined {
    return this.current?.expiresAt;
  }

  close(): void {
    this.closed = true;
    this.loop?.abort();
    this.loop = undefined;
    this.clients.clear();
  }

  /** The current token while it is before its refresh time, else a new one (single-flight). */
  private token(): Promise<CurrentToken> {
    const current = this.current;
    if (current !== undefined && this.options.clock.now() < this.refreshAt(current)) return Promise.resolve(current);
    if (this.pending === undefined) {
      const pending = this.fetch();
      this.pending = pending;
      const clear = () => {
        if (this.pending === pending) this.pending = undefined;
      };
      pending.then(clear, clear);
    }
    return this.pending;
  }

  private async fetch(): Promise<CurrentToken> {
    const obtainedAt = this.options.clock.now();
    const raw = await this.options.credential.getToken(this.scope);
    const parsed = TokenSchema.safeParse(raw);
    if (!parsed.success) throw new Error("The credential returned no usable token for Redis.");
    let claims: unknown;
    try {
      claims = decodeJwt(parsed.data.token);
    } catch {
      throw new Error("The Redis access token is not a JWT.");
    }
    const oid = ClaimsSchema.safeParse(claims);
    if (!oid.success) throw new Error("The Redis access token has no oid claim.");
    const token: CurrentToken = {
      auth: { username: oid.data.oid, password: parsed.data.token },
      obtainedAt,
      expiresAt: parsed.data.expiresOnTimestamp,
    };
    this.current = token;
    return token;
  }

  private refreshAt(token: CurrentToken): number {
    const lifetime = Math.max(0, token.expiresAt - token.obtainedAt);
    return token.obtainedAt + lifetime * this.refreshFraction;
  }

  private startLoop(): void {
    if (this.loop !== undefined || this.closed) return;
    const controller = new AbortController();
    this.loop = controller;
    void this.runLoop(controller.signal);
  }

  /** Replaces the token before it expires and hands it to every connection (which re-AUTHs). */
  private async runLoop(signal: AbortSignal): Promise<void> {
    let retryDelay = this.minRefreshDelayMs;
    while (!signal.aborted) {
      const current = this.current;
      const now = this.options.clock.now();
      const delay = current === undefined ? 0 : Math.max(this.minRefreshDelayMs, this.refreshAt(current) - now);
      try {
        await this.options.sleeper.sleep(delay, signal);
      } catch {
        return; // aborted: closed
      }
      if (signal.aborted) return;
      try {
        const token = await this.token();
        retryDelay = this.minRefreshDelayMs;
        this.options.logger.log("info", "redis_token_refreshed", { expires_at: new Date(token.expiresAt).toISOString() });
        for (const client of this.clients) client.onNext(token.auth);
      } catch (error) {
        this.options.logger.log("warn", "redis_token_refresh_failed", errorFields(error));
        try {
          await this.options.sleeper.sleep(retryDelay, signal);
        } catch {
          return;
        }
        retryDelay = Math.min(this.maxRetryDelayMs, retryDelay * 2);
      }
    }
  }
}
