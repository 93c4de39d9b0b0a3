import type { LogFields } from "../log/logger.js";
import { type AnyErrorCode, ERROR_TABLE, type ErrorCode, isAnsweredCode } from "./codes.js";

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
 * The single error base class: every error the broker raises is one, with a code from the one
 * table (codes.ts). `detail` is written by the broker and is safe to show a caller: it must never
 * contain a secret, a token or a partner's raw response body. The original error is kept as `cause`
 * for logs (which print only its class and code, see log/logger.ts). Subclasses raised with an
 * internal-only code (codes.ts, `status: "never"`) name their class, so a log line says which.
 */
export class BrokerError<C extends AnyErrorCode = ErrorCode> extends Error {
  override readonly name: string = "BrokerError";
  readonly code: C;
  readonly detail: string;
  readonly retryAfterSec: number | undefined;
  readonly logFields: LogFields | undefined;

  constructor(code: C, detail: string, options: BrokerErrorOptions = {}) {
    super(`${code}: ${detail}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = detail;
    this.retryAfterSec = options.retryAfterSec;
    this.logFields = options.logFields;
  }

  /** The HTTP status it is answered with; internal-only codes are answered as `internal` (500). */
  get status(): number {
    const status = ERROR_TABLE[this.code].status;
    return status === "never" ? ERROR_TABLE.internal.status : status;
  }
}

/** A BrokerError the broker answers with as it is (its code is an answered one). */
export function isBrokerError(error: unknown): error is BrokerError {
  return error instanceof BrokerError && isAnsweredCode(error.code);
}

/**
 * The answer to any failure. An answered BrokerError is its own answer; anything else (an error
 * raised with an internal-only code, or no BrokerError at all) escaped the code meant to handle it:
 * wrap it as `internal` without leaking its message.
 */
export function toBrokerError(error: unknown): BrokerError {
  if (isBrokerError(error)) return error;
  return new BrokerError("internal", "Unexpected error; see the broker log.", { cause: error });
}
