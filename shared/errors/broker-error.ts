import type { LogFields } from "../log/logger.js";
import { ERROR_STATUS, type ErrorCode } from "./codes.js";

export interface BrokerErrorOptions {
  cause?: unknown;
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  retryAfterSec?: number;
  /**
   * Log-safe facts about the refusal (never a secret or token: fingerprints only) for the one line
   * that records it, written by whoever answers the request (token_denied, admin_action).
   */
  logFields?: LogFields;
}

/**
 * The single error base class. `detail` is written by the broker and is safe to show a caller:
 * it must never contain a secret, a token or a partner's raw response body. The original error is
 * kept as `cause` for logs (which print only its class and code, see log/logger.ts).
 */
export class BrokerError extends Error {
  override readonly name = "BrokerError";
  readonly code: ErrorCode;
  readonly detail: string;
  readonly retryAfterSec: number | undefined;
  readonly logFields: LogFields | undefined;

  constructor(code: ErrorCode, detail: string, options: BrokerErrorOptions = {}) {
    super(`${code}: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = detail;
    this.retryAfterSec = options.retryAfterSec;
    this.logFields = options.logFields;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isBrokerError(error: unknown): error is BrokerError {
  return error instanceof BrokerError;
}

/** Anything that is not a BrokerError is a bug: wrap it without leaking its message. */
export function toBrokerError(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  return new BrokerError("internal", "Unexpected error; see the broker log.", { cause: error });
}
