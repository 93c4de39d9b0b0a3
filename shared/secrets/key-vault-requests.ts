import type { Clock, Random, Sleeper } from "../clock.js";
import { backoffDelay } from "../backoff.js";
import { BrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import { parseRetryAfter } from "../upstream/upstream-failure.js";
import { SecretNotFoundError } from "./secret-store.js";

/** Our own back-off for the one case the SDK does not retry: 429 without Retry-After. */
export interface ThrottleBackoff {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface KeyVaultRequestDeps {
  clock: Clock;
  sleeper: Sleeper;
  random: Random;
  logger: Logger;
  throttle?: ThrottleBackoff;
}

export type KeyVaultOperation = "get" | "set" | "list";

export const DEFAULT_THROTTLE_BACKOFF: ThrottleBackoff = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 4000 };
const DEFAULT_RETRY_AFTER_SEC = 5;

/**
 * Runs Key Vault SDK calls for the secret store: backs off on a 429 the SDK leaves to us, and
 * translates SDK failures into the broker's errors: 404 -> SecretNotFoundError, everything else ->
 * `secret_unavailable`, with a log event per failure kind. Errors carry a sanitised cause (status
 * and code only): the SDK's RestError holds the request, and a failed `set` request body contains
 * the secret value.
 */
export class KeyVaultRequests {
  private readonly throttle: ThrottleBackoff;

  constructor(private readonly deps: KeyVaultRequestDeps) {
    this.throttle = deps.throttle ?? DEFAULT_THROTTLE_BACKOFF;
  }

  /** `send` is one attempt of `operation` on secret `name`; a throttled attempt is sent again. */
  async run<T>(operation: KeyVaultOperation, name: string, send: () => Promise<T>): Promise<T> {
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

  private failure(operation: KeyVaultOperation, name: string, error: unknown, cause: Error, status: number | undefined, attempts: number): BrokerError {
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
