import { BrokerError } from "../errors/broker-error.js";
/**
 * How one attempt at a partner call failed. Token sources translate their transport's errors into
 * this so one policy (upstream/upstream-caller.ts) decides about retries for every provider kind.
 * - `transient`: network error, timeout, 5xx, 429: retried, counts against the breaker.
 * - `rejected`: the partner refused the credentials (invalid_client, 400/401/403): never retried.
 * - `invalid`: the partner answered 2xx with something unusable (garbage JSON, no token).
 */
export type UpstreamFailureKind = "transient" | "rejected" | "invalid";

export class UpstreamFailure extends BrokerError<"upstream_attempt_failed"> {
  override readonly name = "UpstreamFailure";
  constructor(
    readonly kind: UpstreamFailureKind,
    /** Safe summary: status and OAuth error code only, never a response body. */
    readonly summary: string,
    readonly options: { status?: number; retryAfterSec?: number; cause?: unknown } = {},
  ) {
    super("upstream_attempt_failed", summary, { cause: options.cause });
    this.message = summary;
  }
}

/** Parses Retry-After (delta-seconds or HTTP-date, RFC 9110 §10.2.3) into seconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // An HTTP-date always names a weekday and month; without letters Date.parse would turn junk such as
  // "1.5" into a date in 2001, i.e. "retry now".
  if (!/[A-Za-z]/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** Classifies an HTTP status from a partner token endpoint. */
export function failureForStatus(status: number, retryAfterSec: number | undefined, oauthError?: string): UpstreamFailure {
  const summary = `HTTP ${status}${oauthError ? ` (${oauthError})` : ""}`;
  if (status === 429 || status >= 500) return new UpstreamFailure("transient", summary, { status, retryAfterSec });
  return new UpstreamFailure("rejected", summary, { status });
}
