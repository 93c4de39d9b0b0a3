/**
 * Every failure of the client. `code` is the broker's problem `code` (`caller_forbidden`,
 * `upstream_unavailable`, …) or one of the client's own: `network_error` (the broker could not be
 * reached), `invalid_response` (the broker answered something unreadable), `scope_mismatch` (an
 * Azure SDK asked `tokenCredential()` for a scope the provider does not issue), `no_credentials`
 * (the command line found no way to authenticate). The message never holds a token or secret: it
 * is built from the code, the status and the broker's `detail`, which the broker keeps free of both.
 */
export class TokenBrokerError extends Error {
  override readonly name = "TokenBrokerError";
  readonly code: string;
  /** HTTP status of the broker's answer; undefined when there was none. */
  readonly status: number | undefined;
  /** Seconds to wait before asking again (the broker's `Retry-After`), when it said so. */
  readonly retryAfterSec: number | undefined;

  constructor(code: string, message: string, options: { status?: number; retryAfterSec?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.retryAfterSec = options.retryAfterSec;
  }
}
