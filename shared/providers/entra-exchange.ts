import { z } from "zod";
import type { Clock } from "../clock.js";
import { BrokerError, isBrokerError } from "../errors/broker-error.js";
import { failureForStatus, parseRetryAfter, UpstreamFailure } from "../upstream/upstream-failure.js";
import type { EntraCredentialOptions } from "./entra-client-auth.js";

type PipelinePolicy = EntraCredentialOptions["additionalPolicies"][number]["policy"];

/** Only the OAuth error code of an Entra error body is ever repeated: error_description is free text. */
const EntraErrorBodySchema = z.object({
  error: z.string().regex(/^[a-z_]{1,64}$/),
  error_codes: z.array(z.number().int().nonnegative()).optional(),
});
/** Codes that only ever mean "these credentials or this request will not work": never retried. */
const REJECTION_IN_MESSAGE = /\b(invalid_client|unauthorized_client|invalid_scope|invalid_request|invalid_grant|invalid_resource|AADSTS\d{4,8})\b/;

/** One HTTP exchange the SDK made, reduced to what is safe to keep and enough to classify. */
export interface EntraExchange {
  step: "discovery" | "token" | "other";
  status?: number;
  retryAfterSec?: number;
  /** OAuth error code and first AADSTS code, e.g. "invalid_client, AADSTS7000215". */
  oauthError?: string;
  /** Transport error code (ECONNREFUSED, ...) when no response came back. */
  networkError?: string;
}

/**
 * MSAL folds HTTP failures into generic errors (a 401 and a garbled 200 can both surface as
 * AuthenticationRequiredError), so the status, Retry-After and OAuth code are read off the wire by
 * a per-retry pipeline policy instead. It also ties each request to the attempt's abort signal,
 * which MSAL does not pass through, so a timed-out attempt does not leave a request running.
 */
export class ExchangeRecorder {
  last: EntraExchange | undefined;
  readonly policy: PipelinePolicy;

  constructor(clock: Clock, signal: AbortSignal) {
    this.policy = {
      name: "tokenBrokerEntraExchangeRecorder",
      sendRequest: async (request, next) => {
        const existing = request.abortSignal;
        request.abortSignal = existing instanceof AbortSignal ? AbortSignal.any([existing, signal]) : signal;
        const step = stepOf(request.url);
        try {
          const response = await next(request);
          this.last = {
            step,
            status: response.status,
            retryAfterSec: parseRetryAfter(response.headers.get("retry-after"), clock.now()),
            oauthError: response.status >= 400 ? oauthErrorOf(response.bodyAsText) : undefined,
          };
          return response;
        } catch (error) {
          this.last = { step, networkError: transportCode(error) };
          throw error;
        }
      },
    };
  }
}

/**
 * Turns what getToken threw into an UpstreamFailure, preferring what was seen on the wire:
 * 429/5xx/no response are transient, other 4xx are rejections (invalid_client, invalid_scope,
 * unknown tenant), a 2xx the SDK could not use is invalid. Summaries carry status and codes only.
 */
export function classifyEntraError(error: unknown, last: EntraExchange | undefined, provider: string): Error {
  if (isBrokerError(error) || error instanceof UpstreamFailure) return error;
  const where = last?.step === "discovery" ? "openid-configuration " : "";
  if (last?.status !== undefined) {
    const { status } = last;
    if (status >= 200 && status < 300) {
      return new UpstreamFailure("invalid", `${where}HTTP ${status} (response not usable)`, { status, cause: error });
    }
    // A request timeout is the network's fault, not the credentials'.
    if (status === 408) return new UpstreamFailure("transient", `${where}HTTP 408`, { status, cause: error });
    const failure = failureForStatus(status, last.retryAfterSec, last.oauthError);
    return new UpstreamFailure(failure.kind, where + failure.summary, { ...failure.options, cause: error });
  }
  if (last?.networkError !== undefined) {
    return new UpstreamFailure("transient", `${where}network error (${last.networkError})`, { cause: error });
  }
  // Nothing reached the wire: a credential factory that answers by itself, or a local refusal.
  const name = error instanceof Error ? error.name : typeof error;
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (name === "AuthenticationError" && typeof statusCode === "number" && statusCode > 0) {
    const code = (error as { errorResponse?: { error?: unknown } }).errorResponse?.error;
    return failureForStatus(statusCode, undefined, typeof code === "string" && /^[a-z_]{1,64}$/.test(code) ? code : undefined);
  }
  const message = error instanceof Error ? error.message : "";
  const rejection = REJECTION_IN_MESSAGE.exec(message);
  if (rejection) return new UpstreamFailure("rejected", `${name} (${rejection[1]})`, { cause: error });
  if (name === "CredentialUnavailableError") {
    // Raised before any request: the credential refused its own inputs (tenant, id, secret shape).
    return new BrokerError("secret_unavailable", `The Entra credential of "${provider}" could not be built from its configuration.`, {
      cause: error,
    });
  }
  if (name === "AbortError") return new UpstreamFailure("transient", "aborted", { cause: error });
  return new UpstreamFailure("transient", `client error (${safeName(name)})`, { cause: error });
}

function stepOf(url: string): EntraExchange["step"] {
  const path = new URL(url).pathname;
  if (path.endsWith("/.well-known/openid-configuration")) return "discovery";
  if (path.endsWith("/token")) return "token";
  return "other";
}

function oauthErrorOf(body: string | null | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = EntraErrorBodySchema.safeParse(JSON.parse(body));
    if (!parsed.success) return undefined;
    const aadsts = parsed.data.error_codes?.[0];
    return aadsts === undefined ? parsed.data.error : `${parsed.data.error}, AADSTS${aadsts}`;
  } catch {
    return undefined;
  }
}

function transportCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
  return safeName(error instanceof Error ? error.name : typeof error);
}

function safeName(name: string): string {
  return /^[A-Za-z][A-Za-z0-9_]{0,60}$/.test(name) ? name : "Error";
}
