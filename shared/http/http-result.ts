import { ERROR_TITLES } from "../errors/codes.js";
import { toBrokerError } from "../errors/broker-error.js";
import { ConflictError } from "../errors/conflict-error.js";

/**
 * A response as plain data. It is structurally an `HttpResponseInit` of @azure/functions, so the
 * function files return it as is while shared/ stays free of the Functions SDK.
 */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const NO_STORE = "no-store";

export function jsonResult(status: number, body: unknown): HttpResult {
  return jsonTextResult(status, JSON.stringify(body));
}

/** A JSON body serialized already (token responses, see token-response.ts). */
export function jsonTextResult(status: number, body: string): HttpResult {
  return { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": NO_STORE, pragma: "no-cache" }, body };
}

/**
 * RFC 9457 problem details with the stable `code`. The detail is the BrokerError's own text,
 * never a cause's message. 401s carry the RFC 6750 challenge, 503s a Retry-After. A conflict also
 * carries its `reason` (an RFC 9457 extension member) that says which conflict it is.
 */
export function problemResult(error: unknown): HttpResult {
  const e = toBrokerError(error);
  const headers: Record<string, string> = {
    "content-type": "application/problem+json; charset=utf-8",
    "cache-control": NO_STORE,
  };
  if (e.code === "caller_unauthenticated") headers["www-authenticate"] = 'Bearer realm="token-broker", error="invalid_token"';
  if (e.retryAfterSec !== undefined || e.status === 503) headers["retry-after"] = retryAfterHeader(e.retryAfterSec);
  const body = {
    type: `urn:token-broker:error:${e.code}`,
    title: ERROR_TITLES[e.code],
    status: e.status,
    code: e.code,
    detail: e.detail,
    ...(e instanceof ConflictError ? { reason: e.reason } : {}),
  };
  return { status: e.status, headers, body: JSON.stringify(body) };
}

/** Longest Retry-After ever sent (the largest `upstream.maxThrottleSec` allowed). */
const MAX_RETRY_AFTER_SEC = 86_400;

/**
 * RFC 9110 delay-seconds: a non-negative integer. Components cap their own values; this is the
 * last guard so that no computed value (fraction, exponent notation, NaN) ever reaches a caller.
 */
export function retryAfterHeader(seconds: number | undefined): string {
  const value = seconds !== undefined && Number.isFinite(seconds) ? Math.ceil(seconds) : 5;
  return String(Math.min(MAX_RETRY_AFTER_SEC, Math.max(0, value)));
}
