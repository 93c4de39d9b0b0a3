import type { PartnerCredential } from "./credential.js";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/** RFC 9110 idempotent methods: the only ones `client.fetch` re-sends after a 401 unless told. */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}

export function withHeaders(input: string | URL | Request, init: RequestInit, credential: PartnerCredential): RequestInit {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  for (const [name, value] of Object.entries(credential.headers)) headers.set(name, value);
  return { ...init, headers };
}

/** A body that can be sent twice: none, or one held in memory. */
export function replayable(input: string | URL | Request, init: RequestInit): boolean {
  if (input instanceof Request && input.body !== null && init.body === undefined) return false;
  const body = init.body;
  return !(typeof ReadableStream !== "undefined" && body instanceof ReadableStream);
}

/** The promise, or its caller's abort: whichever comes first (the promise itself runs on). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener("abort", onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener("abort", onAbort), reject(error)),
    );
  });
}

