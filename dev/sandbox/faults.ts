import type { ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { sendJson } from "./route.js";

/**
 * Failures a sandbox partner can be told to produce on its next request(s), to exercise the
 * broker's retries, Retry-After handling, parsing, size limits and timeouts over the real wire.
 */
export type HttpFault =
  | { status: 500 | 502 | 503 | 504 }
  /** `retryAfter` is sent verbatim (an HTTP-date, an absurd number); else `retryAfterSec` (1). */
  | { status: 429; retryAfterSec?: number; retryAfter?: string }
  | { garbage: true }
  | { delayMs: number }
  | { destroy: true }
  /** Never answers; the request ends only when the client gives up. */
  | { hang: true }
  /** Headers at once, then one body byte every `dripMs`, never finishing. */
  | { dripMs: number }
  /**
   * A 200 JSON body of `hugeBodyBytes` bytes, streamed as the client reads it. `written` counts
   * what was really sent: a client that stops reading early leaves it far below the size.
   */
  | { hugeBodyBytes: number; declareLength?: boolean; written?: number }
  /** A 200 with this JSON body instead of the real answer (expired or oversized tokens, ...). */
  | { json: unknown };

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
  if ("hang" in fault) {
    await clientGone(res);
    return true;
  }
  if ("dripMs" in fault) {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.write("{");
    while (!res.destroyed && !res.writableEnded) {
      await delay(fault.dripMs, undefined, { ref: false });
      if (!res.destroyed) res.write(" ");
    }
    return true;
  }
  if ("hugeBodyBytes" in fault) {
    await streamHugeBody(fault, res);
    return true;
  }
  if ("json" in fault) return sendJson(res, 200, fault.json);
  if (fault.status === 429) {
    return sendJson(res, 429, { error: "too_many_requests" }, { "retry-after": fault.retryAfter ?? String(fault.retryAfterSec ?? 1) });
  }
  return sendJson(res, fault.status, { error: "server_error" });
}

/** Takes the next queued fault, if any, and applies it. */
export async function nextFault(faults: HttpFault[], res: ServerResponse): Promise<boolean> {
  const fault = faults.shift();
  return fault ? applyFault(fault, res) : false;
}

function clientGone(res: ServerResponse): Promise<void> {
  if (res.destroyed || res.socket?.destroyed) return Promise.resolve();
  return new Promise((resolve) => res.once("close", () => resolve()));
}

const CHUNK = Buffer.alloc(64 * 1024, "a");

/** A `{"access_token":"aaaa…` body, written as fast as the client drains it and no faster. */
async function streamHugeBody(fault: { hugeBodyBytes: number; declareLength?: boolean; written?: number }, res: ServerResponse): Promise<void> {
  const total = fault.hugeBodyBytes;
  // Chunked unless asked: the client cannot refuse it from a Content-Length, it must stop reading.
  const length: Record<string, string> = fault.declareLength ? { "content-length": String(total) } : {};
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", ...length });
  const gone = clientGone(res);
  let written = 0;
  const head = Buffer.from('{"access_token":"');
  res.write(head);
  written += head.length;
  while (written < total - 2 && !res.destroyed) {
    const chunk = CHUNK.subarray(0, Math.min(CHUNK.length, total - 2 - written));
    written += chunk.length;
    fault.written = written;
    if (!res.write(chunk)) await Promise.race([new Promise((resolve) => res.once("drain", resolve)), gone]);
  }
  if (!res.destroyed) res.end('"}');
  fault.written = written;
}
