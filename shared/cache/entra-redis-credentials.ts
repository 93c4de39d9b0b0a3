import type { TokenCredential } from "@azure/identity";
import { EntraIdCredentialsProviderFactory, REDIS_SCOPE_DEFAULT, type EntraidCredentialsProvider } from "@redis/entraid";
import { decodeJwt } from "jose";
import { z } from "zod";
import { errorFields, type Logger } from "../log/logger.js";

/** What node-redis sends in AUTH. */
export interface RedisAuth {
  username?: string;
  password?: string;
}

interface CredentialsListener {
  onNext(credentials: RedisAuth): void;
  onError(error: Error): void;
}

interface Disposable {
  dispose(): void;
}

/** node-redis's StreamingCredentialsProvider, restated structurally (its authx module is not a public export). */
export interface StreamingRedisCredentials {
  readonly type: "streaming-credentials-provider";
  subscribe(listener: CredentialsListener): Promise<[RedisAuth, Disposable]>;
  onReAuthenticationError(error: Error): void;
}

export interface EntraRedisCredentialsOptions {
  /** DefaultAzureCredential in Azure (the Function App's managed identity). */
  credential: TokenCredential;
  logger: Logger;
  /** Fraction of a token's lifetime after which it is replaced and every connection re-AUTHs (0.75). */
  refreshRatio?: number;
  /** First retry delay after a failed token request, doubled up to `maxRetryDelayMs` (1 s, 30 s). */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

const ClaimsSchema = z.object({ oid: z.string().min(1) });

/**
 * Microsoft Entra authentication for Azure Managed Redis (and Azure Cache for Redis), built on
 * `@redis/entraid`, the node-redis package made for it: the password is an access token for
 * `https://redis.azure.com/.default` and the username its `oid` claim; the token manager replaces
 * the token before it expires and every subscribed connection re-AUTHs in place.
 *
 * Two things are added here. The token's `oid` is read with jose and a clear error instead of the
 * package's bare JSON.parse. And each node-redis client gets its own thin provider (`forClient()`):
 * node-redis (6.x, `#getHandshakeCommands`) subscribes to the provider again on every reconnect
 * and overwrites its disposable without disposing the old one, so with one shared provider every
 * reconnect would leave one more listener behind, each sending its own AUTH on every refresh. The
 * per-client provider keeps exactly one subscription per client and drops the previous one.
 * Subscriptions to the shared provider are made one at a time: while it fetches its first token,
 * `@redis/entraid` (6.1) parks further subscribers and never settles them if that fetch fails, so
 * a second connection opened at the same moment would hang in its handshake for good.
 */
export class EntraRedisCredentials {
  private readonly shared: EntraidCredentialsProvider;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: EntraRedisCredentialsOptions) {
    const logger = options.logger;
    this.shared = EntraIdCredentialsProviderFactory.createForDefaultAzureCredential({
      credential: options.credential,
      scopes: REDIS_SCOPE_DEFAULT,
      credentialsMapper: (token) => credentialsFromToken("token" in token ? token.token : token.accessToken),
      tokenManagerConfig: {
        expirationRefreshRatio: options.refreshRatio ?? 0.75,
        retry: {
          // Every failure is worth retrying until the token runs out: without a new token Redis
          // drops the connections, and the package's default retries MSAL network errors only.
          isRetryable: () => true,
          maxAttempts: Number.MAX_SAFE_INTEGER,
          initialDelayMs: options.retryDelayMs ?? 1_000,
          maxDelayMs: options.maxRetryDelayMs ?? 30_000,
          backoffMultiplier: 2,
          jitterPercentage: 20,
        },
      },
      onRetryableError: (message) => logger.log("warn", "redis_token_refresh_failed", { error: "IDPError", detail: firstLine(message) }),
      onReAuthenticationError: (error) => logger.log("warn", "redis_reauth_failed", errorFields(error)),
    });
  }

  /** A provider for one node-redis client (see the class comment). */
  forClient(): StreamingRedisCredentials {
    let current: Disposable | undefined;
    return {
      type: "streaming-credentials-provider",
      subscribe: async (listener) => {
        const previous = current;
        const [credentials, subscription] = await this.oneAtATime(() => this.shared.subscribe(listener));
        // Dropped after the new one is in, so the token manager never sees zero subscribers.
        previous?.dispose();
        current = subscription;
        const dispose = () => {
          if (current !== subscription) return;
          current = undefined;
          subscription.dispose();
        };
        return [credentials, { dispose }];
      },
      onReAuthenticationError: (error) => this.shared.onReAuthenticationError(error),
    };
  }

  private oneAtATime<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Listeners currently subscribed across all clients (one per connected client). */
  get subscriptions(): number {
    return this.shared.getSubscriptionsCount();
  }

  /** Epoch ms when the current token expires (status output); undefined before the first one. */
  get expiresAt(): number | undefined {
    return this.shared.getTokenManager().getCurrentToken()?.expiresAtMs;
  }
}

/** Username = the token's `oid`, password = the token. The error never quotes the token. */
export function credentialsFromToken(token: string): RedisAuth {
  let claims: unknown;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new Error("The Redis access token is not a JWT.");
  }
  const parsed = ClaimsSchema.safeParse(claims);
  if (!parsed.success) throw new Error("The Redis access token has no oid claim.");
  return { username: parsed.data.oid, password: token };
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0]!.slice(0, 300);
}
