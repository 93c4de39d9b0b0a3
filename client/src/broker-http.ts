import { TokenBrokerError } from "./errors.js";

export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Longest broker answer read: a token body is ~2 KB, the operator status a few KB per provider. */
export const MAX_BROKER_BODY_BYTES = 1024 * 1024;

export interface BrokerCall {
  fetch: FetchFunction;
  url: URL;
  method: "GET" | "POST";
  authorization: string;
  body?: unknown;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * One request to the broker: bounded in time and size, JSON in and out. Any non-2xx becomes a
 * TokenBrokerError with the problem `code`, the status and Retry-After; nothing of the caller's
 * JWT or of a credential ever goes into the error.
 */
export async function callBroker(call: BrokerCall): Promise<unknown> {
  const timeout = AbortSignal.timeout(call.timeoutMs);
  const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
  const headers: Record<string, string> = { authorization: call.authorization, accept: "application/json" };
  if (call.body !== undefined) headers["content-type"] = "application/json";
  let response: Response | undefined;
  // One more attempt after a connection failure (not a timeout): a pooled keep-alive connection
  // the server or a load balancer closed meanwhile fails at once. Both broker calls are safe to
  // repeat (a second rejection report of one credential answers already_replaced).
  for (let attempt = 1; response === undefined; attempt++) {
    try {
      response = await call.fetch(call.url, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal,
        redirect: "error",
      });
    } catch (error) {
      if (attempt < 2 && !signal.aborted) continue;
      const timedOut = timeout.aborted;
      throw new TokenBrokerError("network_error", timedOut ? `The broker did not answer within ${call.timeoutMs} ms.` : "The broker could not be reached.", {
        cause: error,
      });
    }
  }
  const text = await readBounded(response, MAX_BROKER_BODY_BYTES);
  if (response.ok) {
    try {
      return JSON.parse(text ?? "");
    } catch {
      throw new TokenBrokerError("invalid_response", `The broker answered ${response.status} with a body that is not JSON.`, { status: response.status });
    }
  }
  throw problemError(response, text);
}

function problemError(response: Response, text: string | undefined): TokenBrokerError {
  let code = `http_${response.status}`;
  let detail = "";
  try {
    const problem = JSON.parse(text ?? "") as { code?: unknown; detail?: unknown };
    if (typeof problem.code === "string" && /^[a-z][a-z0-9_]{0,63}$/.test(problem.code)) code = problem.code;
    if (typeof problem.detail === "string") detail = problem.detail.slice(0, 300);
  } catch {
    // Not a problem document (a proxy's page): the status says enough.
  }
  const retryAfterSec = parseRetryAfter(response.headers.get("retry-after"));
  return new TokenBrokerError(code, `Broker answered ${response.status} ${code}${detail ? `: ${detail}` : ""}`, { status: response.status, retryAfterSec });
}

/** Delta-seconds only (the broker never sends a date); anything else is ignored. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\s*\d{1,6}\s*$/.test(value)) return undefined;
  return Number(value);
}

/** The body as text, or undefined when it exceeds `max` bytes (the rest is not read). */
export async function readBounded(response: Response, max: number): Promise<string | undefined> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
