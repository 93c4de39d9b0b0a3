import type { ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { sendJson } from "./route.js";

/**
 * Failures a sandbox partner can be told to produce on its next request(s), to exercise the
 * broker's retries, Retry-After handling, parsing and timeouts over the real wire.
 */
export type HttpFault =
  | { status: 500 | 502 | 503 | 504 }
  | { status: 429; retryAfterSec?: number }
  | { garbage: true }
  | { delayMs: number }
  | { destroy: true };

/**
 * Applies one fault. Returns true when the response has been dealt with (error sent or socket
 * destroyed); a delay returns false after waiting so the request is then served normally.
 */
export async function applyFault(fault: HttpFault, res: ServerResponse): Promise<boolean> {
  if ("delayMs" in fault) {
    // Unref'd: a pending delay must not keep a test process alive after the server closed.
    await delay(fault.delayMs, undefined, { ref: false });
    return res.destroyed;
  }
  if ("destroy" in fault) {
    res.socket?.destroy();
    return true;
  }
  if ("garbage" in fault) {
    // A 200 that claims JSON but is not: the broker must not crash or cache it.
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
    res.end("<html><body>Service temporarily unavailable</body></html>");
    return true;
  }
  if (fault.status === 429) {
    return sendJson(res, 429, { error: "too_many_requests" }, { "retry-after": String(fault.retryAfterSec ?? 1) });
  }
  return sendJson(res, fault.status, { error: "server_error" });
}

/** Takes the next queued fault, if any, and applies it. */
export async function nextFault(faults: HttpFault[], res: ServerResponse): Promise<boolean> {
  const fault = faults.shift();
  return fault ? applyFault(fault, res) : false;
}
