/**
 * The one table that maps stable error codes to HTTP statuses. Codes are part of the public
 * contract (problem+json `code`): never rename one, only add.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  caller_unauthenticated: 401,
  caller_forbidden: 403,
  provider_not_found: 404,
  route_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  upstream_rejected: 502,
  upstream_unavailable: 503,
  secret_unavailable: 503,
  broker_unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_TITLES: Record<ErrorCode, string> = {
  bad_request: "Bad request",
  caller_unauthenticated: "Caller not authenticated",
  caller_forbidden: "Caller not allowed",
  provider_not_found: "Provider not found",
  route_not_found: "No such route",
  method_not_allowed: "Method not allowed",
  conflict: "Conflict",
  payload_too_large: "Request body too large",
  rate_limited: "Too many requests",
  upstream_rejected: "Partner rejected the credentials",
  upstream_unavailable: "Partner unavailable",
  secret_unavailable: "Secret store unavailable",
  broker_unavailable: "Broker not started",
  internal: "Internal error",
};
