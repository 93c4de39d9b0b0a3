/**
 * The one table of the broker's error codes: each stable snake_case code with the HTTP status it is
 * answered with and its problem title. Answered codes are part of the public contract (problem+json
 * `code`): never rename one, only add.
 *
 * `status: "never"` marks an internal-only code: the error is raised and handled inside the broker
 * (a start-up refusal, one failed attempt that a retry policy turns into an answered code). Should
 * one escape to a request anyway, it is answered like any unexpected error: `internal`, 500, with a
 * generic detail (see toBrokerError).
 */
export const ERROR_TABLE = {
  bad_request: { status: 400, title: "Bad request" },
  caller_unauthenticated: { status: 401, title: "Caller not authenticated" },
  caller_forbidden: { status: 403, title: "Caller not allowed" },
  provider_not_found: { status: 404, title: "Provider not found" },
  route_not_found: { status: 404, title: "No such route" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  payload_too_large: { status: 413, title: "Request body too large" },
  rate_limited: { status: 429, title: "Too many requests" },
  upstream_rejected: { status: 502, title: "Partner rejected the credentials" },
  upstream_unavailable: { status: 503, title: "Partner unavailable" },
  secret_unavailable: { status: 503, title: "Secret store unavailable" },
  broker_unavailable: { status: 503, title: "Broker not started" },
  internal: { status: 500, title: "Internal error" },

  /** The configuration or app settings cannot run: the host refuses to start (config/load.ts). */
  config_invalid: { status: "never", title: "Invalid configuration" },
  /** One failed partner attempt; the upstream caller answers upstream_rejected/_unavailable. */
  upstream_attempt_failed: { status: "never", title: "Partner attempt failed" },
  /** One unusable JWKS answer; the issuer's keys keep the last good set (callers/issuer-keys.ts). */
  jwks_fetch_failed: { status: "never", title: "Key set fetch failed" },
  /** No usable key set of a caller-token issuer; the verifier answers caller_unauthenticated or broker_unavailable. */
  jwks_unavailable: { status: "never", title: "Caller key set unavailable" },
  /** A Redis command ran past its timeout; the fleet layer degrades to local work. */
  redis_command_timeout: { status: "never", title: "Redis command timed out" },
  /** Redis is not connected; the fleet layer degrades to local work. */
  redis_unavailable: { status: "never", title: "Redis unavailable" },
  /** What the Key Vault SDK threw, stripped to class, code and status; answered as secret_unavailable. */
  key_vault_request_failed: { status: "never", title: "Key Vault request failed" },
} as const satisfies Record<string, { status: number | "never"; title: string }>;

type Table = typeof ERROR_TABLE;

/** Every code of the broker. */
export type AnyErrorCode = keyof Table;
/** The codes the broker answers with (problem+json `code`). */
export type ErrorCode = { [K in AnyErrorCode]: Table[K]["status"] extends number ? K : never }[AnyErrorCode];
/** The codes that never leave the broker as an answer. */
export type InternalErrorCode = Exclude<AnyErrorCode, ErrorCode>;

export function isAnsweredCode(code: AnyErrorCode): code is ErrorCode {
  return ERROR_TABLE[code].status !== "never";
}

/** An internal-only code of the table (any other string, a code of the table or not, is not). */
export function isInternalCode(code: string): code is InternalErrorCode {
  return Object.hasOwn(ERROR_TABLE, code) && ERROR_TABLE[code as AnyErrorCode].status === "never";
}

const answered = (Object.keys(ERROR_TABLE) as AnyErrorCode[]).filter(isAnsweredCode);

/** HTTP status per answered code. */
export const ERROR_STATUS = Object.fromEntries(answered.map((code) => [code, ERROR_TABLE[code].status])) as {
  readonly [K in ErrorCode]: Table[K]["status"];
};

/** Problem title per answered code. */
export const ERROR_TITLES = Object.fromEntries(answered.map((code) => [code, ERROR_TABLE[code].title])) as Record<ErrorCode, string>;
