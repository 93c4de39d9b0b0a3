import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import azf from "@azure/functions";
import type { Cookie, HttpResponseInit } from "@azure/functions";

/**
 * Converts between node:http and the `@azure/functions` request/response objects. Handler results
 * follow the library's rules (HttpResponseInit or HttpResponse, `jsonBody` wins over `body`, no
 * body for 204/205/304, 200 by default); the common shapes (string, bytes, JSON) are written
 * directly, anything exotic (streams, Blob, FormData...) goes through `new HttpResponse(init)`.
 */

export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
export const TOO_LARGE = Symbol("request body too large");

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/**
 * Reads the whole request body. Returns undefined when the request has none, TOO_LARGE as soon as
 * it is known to exceed the limit (the rest is not read).
 */
export function readBody(req: IncomingMessage, limit = MAX_REQUEST_BODY_BYTES): Promise<Buffer | undefined | typeof TOO_LARGE> {
  const declared = req.headers["content-length"];
  if (declared === undefined && req.headers["transfer-encoding"] === undefined) return Promise.resolve(undefined);
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve(TOO_LARGE);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        resolve(TOO_LARGE);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      if (size === 0) resolve(undefined);
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onAborted = () => onError(new Error("request aborted"));
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

/** Throws (TypeError) when the URL or a header cannot be represented: the caller answers 400. */
export function toHttpRequest(
  req: IncomingMessage,
  body: Buffer | undefined,
  params: Record<string, string>,
  fallbackOrigin: string,
): azf.HttpRequest {
  const host = req.headers.host;
  const url = (host ? "http://" + host : fallbackOrigin) + (req.url ?? "/");
  return new azf.HttpRequest({
    method: req.method ?? "GET",
    url,
    headers: flatHeaders(req.headers),
    params,
    body: body ? { bytes: body } : undefined,
  });
}

/** node:http keeps repeated `set-cookie` as an array; everything else is already one string. */
function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  for (const key in headers) {
    if (Array.isArray(headers[key])) {
      const copy: Record<string, string> = {};
      for (const k in headers) {
        const v = headers[k];
        if (v !== undefined) copy[k] = Array.isArray(v) ? v.join(", ") : v;
      }
      return copy;
    }
  }
  return headers as Record<string, string>;
}

type OutHeaders = Record<string, string | string[]>;

/**
 * Writes a handler's result. Throws (before anything is sent) if the result is not a valid
 * response: a bad status, a header value node:http refuses, an unserialisable jsonBody.
 */
export async function writeHttpResult(res: ServerResponse, result: unknown): Promise<void> {
  if (result === undefined || result === null) {
    writeEmpty(res, 204);
    return;
  }
  if (typeof result !== "object") {
    throw new TypeError('The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".');
  }
  if (isResponseLike(result)) {
    await writeResponse(res, result);
    return;
  }
  const init = result as HttpResponseInit;
  const status = init.status ?? 200;
  checkStatus(status);
  const headers: OutHeaders = {};
  const hasContentType = copyHeaders(init.headers, headers);
  addCookies(init.cookies, headers);
  if (NULL_BODY_STATUSES.has(status)) {
    finish(res, status, headers, undefined);
    return;
  }
  if (init.jsonBody !== undefined && init.jsonBody !== null) {
    const text = JSON.stringify(init.jsonBody);
    if (!hasContentType) headers["content-type"] = "application/json";
    finish(res, status, headers, text);
    return;
  }
  const body = init.body;
  if (body === undefined || body === null) {
    finish(res, status, headers, undefined);
  } else if (typeof body === "string") {
    // Same default as `new Response(string)`, which is what the real host would send.
    if (!hasContentType) headers["content-type"] = "text/plain;charset=UTF-8";
    finish(res, status, headers, body);
  } else if (body instanceof Uint8Array) {
    finish(res, status, headers, body);
  } else if (ArrayBuffer.isView(body)) {
    finish(res, status, headers, new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  } else if (body instanceof ArrayBuffer) {
    finish(res, status, headers, new Uint8Array(body));
  } else {
    await writeResponse(res, new azf.HttpResponse(init));
  }
}

export function writeEmpty(res: ServerResponse, status: number, headers: OutHeaders = {}): void {
  finish(res, status, headers, undefined);
}

interface ResponseLike {
  status: number;
  headers: Headers;
  cookies?: Cookie[];
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** `instanceof` first; the shape test covers a function file bundling its own copy of the library. */
function isResponseLike(value: object): value is ResponseLike {
  if (value instanceof azf.HttpResponse) return true;
  const v = value as Partial<ResponseLike>;
  return typeof v.arrayBuffer === "function" && v.headers instanceof Headers && typeof v.status === "number";
}

async function writeResponse(res: ServerResponse, response: ResponseLike): Promise<void> {
  const status = response.status;
  checkStatus(status);
  const headers: OutHeaders = {};
  copyHeaders(response.headers, headers);
  addCookies(response.cookies, headers);
  const bytes = NULL_BODY_STATUSES.has(status) ? undefined : new Uint8Array(await response.arrayBuffer());
  finish(res, status, headers, bytes);
}

function checkStatus(status: unknown): asserts status is number {
  // The library builds a fetch Response, which accepts 200-599 only; anything else is a 500.
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(`invalid HTTP response status ${String(status)}`);
  }
}

/** Returns whether a content-type was among them. Framing headers are ours to set, not the handler's. */
function copyHeaders(from: HttpResponseInit["headers"], to: OutHeaders): boolean {
  if (!from) return false;
  let hasContentType = false;
  const put = (name: string, value: string) => {
    const lower = name.toLowerCase();
    if (lower === "content-length" || lower === "transfer-encoding" || lower === "connection") return;
    if (lower === "content-type") hasContentType = true;
    if (lower === "set-cookie") appendCookie(to, value);
    else to[name] = value;
  };
  if (from instanceof Headers) {
    from.forEach((value, name) => {
      if (name !== "set-cookie") put(name, value);
    });
    for (const cookie of from.getSetCookie()) appendCookie(to, cookie);
  } else if (Array.isArray(from)) {
    for (const [name, value] of from) put(name, String(value));
  } else {
    for (const name in from) {
      const value = (from as Record<string, unknown>)[name];
      if (value !== undefined && value !== null) put(name, String(value));
    }
  }
  return hasContentType;
}

function appendCookie(to: OutHeaders, cookie: string): void {
  const existing = to["set-cookie"];
  if (existing === undefined) to["set-cookie"] = [cookie];
  else if (Array.isArray(existing)) existing.push(cookie);
  else to["set-cookie"] = [existing, cookie];
}

function addCookies(cookies: Cookie[] | undefined, to: OutHeaders): void {
  if (!cookies || cookies.length === 0) return;
  for (const c of cookies) appendCookie(to, serializeCookie(c));
}

function serializeCookie(c: Cookie): string {
  let out = `${c.name}=${c.value}`;
  if (c.expires !== undefined) out += `; expires=${new Date(c.expires).toUTCString()}`;
  if (c.maxAge !== undefined) out += `; max-age=${Math.trunc(c.maxAge)}`;
  if (c.domain) out += `; domain=${c.domain}`;
  if (c.path) out += `; path=${c.path}`;
  if (c.secure) out += "; secure";
  if (c.sameSite) out += `; samesite=${c.sameSite.toLowerCase()}`;
  if (c.httpOnly) out += "; httponly";
  return out;
}

/** One writeHead + end with an explicit length, so keep-alive never needs chunked framing. */
function finish(res: ServerResponse, status: number, headers: OutHeaders, body: string | Uint8Array | undefined): void {
  if (status === 204 || status === 304) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  headers["content-length"] = body === undefined ? "0" : String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
  res.writeHead(status, headers);
  res.end(body);
}
