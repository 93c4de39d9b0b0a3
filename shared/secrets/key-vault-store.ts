import type { TokenCredential } from "@azure/identity";
import { SecretClient, type KeyVaultSecret, type SecretProperties } from "@azure/keyvault-secrets";
import { z } from "zod";
import type { Clock, Random, Sleeper } from "../clock.js";
import { BrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import { parseRetryAfter } from "../upstream/upstream-failure.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "./secret-store.js";
import { assertSecretName, assertSecretVersion } from "./secret-name.js";
import { backoffDelay } from "../backoff.js";

/** Our own back-off for the one case the SDK does not retry: 429 without Retry-After. */
export interface ThrottleBackoff {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface KeyVaultSecretStoreDeps {
  clock: Clock;
  sleeper: Sleeper;
  random: Random;
  logger: Logger;
  throttle?: ThrottleBackoff;
  /**
   * Deadline for one store operation including the SDK's retries (our 429 back-off gives each
   * attempt a new one). The SDK has no default timeout, so a hung vault would hang the broker.
   */
  timeoutMs?: number;
}

export interface SdkRetryOptions {
  maxRetries?: number;
  retryDelayInMs?: number;
  maxRetryDelayInMs?: number;
}

export interface KeyVaultSecretStoreOptions extends KeyVaultSecretStoreDeps {
  vaultUrl: string;
  credential: TokenCredential;
  /** Needed for Key Vault-compatible emulators whose host does not end with `.vault.azure.net`. */
  disableChallengeResourceVerification: boolean;
  sdkRetry?: SdkRetryOptions;
}

export const DEFAULT_THROTTLE_BACKOFF: ThrottleBackoff = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 4000 };
export const DEFAULT_TIMEOUT_MS = 15_000;
/** Modest SDK retries so a dead vault fails in seconds, not minutes (SDK default: 3 retries up to 64 s apart). */
export const DEFAULT_SDK_RETRY: Required<SdkRetryOptions> = { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4000 };
const DEFAULT_RETRY_AFTER_SEC = 5;

export function createKeyVaultSecretStore(options: KeyVaultSecretStoreOptions): KeyVaultSecretStore {
  const client = new SecretClient(options.vaultUrl, options.credential, {
    disableChallengeResourceVerification: options.disableChallengeResourceVerification,
    retryOptions: { ...DEFAULT_SDK_RETRY, ...options.sdkRetry },
  });
  return new KeyVaultSecretStore(client, options);
}

const TagsSchema = z.record(z.string(), z.string()).optional();

const PropertiesSchema = z.object({
  version: z.string().min(1),
  createdOn: z.date(),
  enabled: z.boolean().optional(),
  tags: TagsSchema,
});

const SecretSchema = z.object({ value: z.string(), properties: PropertiesSchema });

type Operation = "get" | "set" | "list";

/**
 * SecretStore over Azure Key Vault through the real `SecretClient`. Translates SDK failures into
 * the broker's errors: 404 -> SecretNotFoundError, everything else -> `secret_unavailable`, with a
 * log event per failure kind. Errors carry a sanitised cause (status and code only): the SDK's
 * RestError holds the request, and a failed `set` request body contains the secret value.
 */
export class KeyVaultSecretStore implements SecretStore {
  private readonly throttle: ThrottleBackoff;
  private readonly timeoutMs: number;

  constructor(
    private readonly client: SecretClient,
    private readonly deps: KeyVaultSecretStoreDeps,
  ) {
    this.throttle = deps.throttle ?? DEFAULT_THROTTLE_BACKOFF;
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async get(name: string, version?: string): Promise<SecretVersion> {
    assertSecretName(name);
    if (version !== undefined) assertSecretVersion(version);
    const secret = await this.call("get", name, () =>
      this.client.getSecret(name, { version, abortSignal: this.deadline() }),
    );
    return toSecretVersion(name, secret);
  }

  async set(name: string, value: string, tags: Record<string, string> = {}): Promise<SecretVersion> {
    assertSecretName(name);
    if (typeof value !== "string") throw new BrokerError("bad_request", "A secret value must be a string.");
    if (!TagsSchema.safeParse(tags).success) throw new BrokerError("bad_request", "Secret tags must be string to string.");
    const secret = await this.call("set", name, () =>
      this.client.setSecret(name, value, { tags, abortSignal: this.deadline() }),
    );
    return toSecretVersion(name, secret);
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    assertSecretName(name);
    let properties: SecretProperties[];
    try {
      // The whole listing is one attempt: a throttled page restarts it, so no page is skipped.
      properties = await this.call("list", name, async () => {
        const all: SecretProperties[] = [];
        const pages = this.client.listPropertiesOfSecretVersions(name, { abortSignal: this.deadline() });
        for await (const item of pages) all.push(item);
        return all;
      });
    } catch (error) {
      if (error instanceof SecretNotFoundError) return [];
      throw error;
    }
    // Key Vault lists versions in no particular order. `created` has one-second resolution, so
    // the version id breaks ties to keep the order stable.
    return properties
      .map((p) => toInfo(name, p))
      .sort((a, b) => a.createdOn - b.createdOn || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  }

  /**
   * An abort signal, not the SDK's per-request `timeout`: the SDK leaves that timer running when a
   * connection fails, and AbortSignal.timeout's timer never keeps the process alive.
   */
  private deadline(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs);
  }

  private async call<T>(operation: Operation, name: string, send: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        const status = statusOf(error);
        if (status === 404) throw new SecretNotFoundError(name);
        const cause = sanitize(error);
        if (status === 429 && retryAfterHeader(error) === undefined && attempt < this.throttle.maxAttempts) {
          const policy = { baseMs: this.throttle.baseDelayMs, maxMs: this.throttle.maxDelayMs, jitter: "full" } as const;
          const delayMs = Math.round(backoffDelay(policy, attempt, this.deps.random)); // full jitter: a throttled fleet spreads out
          this.deps.logger.log("warn", "secret_store_throttled", { secret: name, operation, attempt, delay_ms: delayMs });
          await this.deps.sleeper.sleep(delayMs);
          continue;
        }
        throw this.failure(operation, name, error, cause, status, attempt);
      }
    }
  }

  private failure(operation: Operation, name: string, error: unknown, cause: Error, status: number | undefined, attempts: number): BrokerError {
    const fields = { secret: name, operation, status: status ?? null, attempts, ...errorFields(cause) };
    const what = status === undefined ? describeTransport(error) : `HTTP ${status}`;
    if (status === 401 || status === 403) {
      this.deps.logger.log("error", "secret_store_access_denied", fields);
      return new BrokerError("secret_unavailable", `Access to secret "${name}" was denied by the secret store (${what}).`, {
        cause,
      });
    }
    if (isCredentialError(error)) {
      this.deps.logger.log("error", "secret_store_auth_failed", fields);
      return new BrokerError("secret_unavailable", `The broker could not authenticate to the secret store.`, {
        cause,
        retryAfterSec: DEFAULT_RETRY_AFTER_SEC,
      });
    }
    const retryAfterSec = Math.max(1, parseRetryAfter(retryAfterHeader(error), this.deps.clock.now()) ?? DEFAULT_RETRY_AFTER_SEC);
    this.deps.logger.log("error", "secret_store_unavailable", { ...fields, retry_after_sec: retryAfterSec });
    return new BrokerError("secret_unavailable", `The secret store could not ${operation} secret "${name}" (${what}).`, {
      cause,
      retryAfterSec,
    });
  }
}

/** Status, code and class of an SDK error, and nothing that could hold a request or response body. */
export class KeyVaultRequestError extends BrokerError<"key_vault_request_failed"> {
  override readonly name = "KeyVaultRequestError";
  constructor(
    readonly errorClass: string,
    /** The SDK's own error code (e.g. "Forbidden"), logged after the broker's. */
    readonly serviceCode: string | undefined,
    readonly statusCode: number | undefined,
  ) {
    const message = `${errorClass}${statusCode === undefined ? "" : ` HTTP ${statusCode}`}${serviceCode ? ` ${serviceCode}` : ""}`;
    super("key_vault_request_failed", message);
    this.message = message;
  }
}

function sanitize(error: unknown): KeyVaultRequestError {
  const e = error as { name?: unknown; code?: unknown } | null;
  const errorClass = typeof e?.name === "string" ? e.name : typeof error;
  const code = typeof e?.code === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(e.code) ? e.code : undefined;
  return new KeyVaultRequestError(errorClass, code, statusOf(error));
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

function retryAfterHeader(error: unknown): string | undefined {
  const headers = (error as { response?: { headers?: { get?(name: string): string | undefined } } } | null)?.response?.headers;
  return typeof headers?.get === "function" ? (headers.get("retry-after") ?? undefined) : undefined;
}

/** @azure/identity errors: the vault was never reached because no token could be obtained. */
function isCredentialError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return (
    name === "CredentialUnavailableError" ||
    name === "AuthenticationError" ||
    name === "AggregateAuthenticationError" ||
    name === "AuthenticationRequiredError"
  );
}

/** A failure without an HTTP status, in words safe for a caller (no message, no URL). */
function describeTransport(error: unknown): string {
  const e = error as { name?: unknown; code?: unknown } | null;
  if (e?.name === "AbortError") return "timed out";
  if (e?.name === "RestError") return typeof e.code === "string" && /^[A-Z_]{1,40}$/.test(e.code) ? `network error ${e.code}` : "network error";
  return "request failed";
}

function toSecretVersion(name: string, secret: KeyVaultSecret): SecretVersion {
  const parsed = SecretSchema.safeParse(secret);
  if (!parsed.success) throw unexpectedResponse(name);
  const p = parsed.data.properties;
  return {
    name,
    version: p.version,
    value: parsed.data.value,
    tags: { ...p.tags },
    createdOn: p.createdOn.getTime(),
    enabled: p.enabled ?? true,
  };
}

function toInfo(name: string, properties: SecretProperties): SecretVersionInfo {
  const parsed = PropertiesSchema.safeParse(properties);
  if (!parsed.success) throw unexpectedResponse(name);
  const p = parsed.data;
  return { name, version: p.version, tags: { ...p.tags }, createdOn: p.createdOn.getTime(), enabled: p.enabled ?? true };
}

/** The zod error is not attached: its issues could quote the payload. */
function unexpectedResponse(name: string): BrokerError {
  return new BrokerError("secret_unavailable", `The secret store returned an unexpected response for secret "${name}".`);
}
