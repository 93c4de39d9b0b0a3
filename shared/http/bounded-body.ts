import { UpstreamFailure } from "../upstream/upstream-failure.js";

/**
 * The one reader of a partner's answer (token endpoints, key APIs, probes): at most `maxBytes`
 * (after content decoding, so a compressed bomb counts at its real size). A longer body is
 * abandoned unread — the stream is cancelled, never buffered — and fails as "invalid", which the
 * upstream caller reports as upstream_rejected without retrying.
 */
export async function readBodyText(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await cancel(response.body);
    throw tooLarge(response.status, maxBytes);
  }
  const body = response.body;
  if (body === null) return "";
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(response.status, maxBytes);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

/**
 * An error answer's body, for its OAuth error code only: undefined when it is too large to be one
 * (the status alone then classifies the failure).
 */
export async function readErrorText(response: Response, maxBytes: number): Promise<string | undefined> {
  try {
    return await readBodyText(response, maxBytes);
  } catch (error) {
    if (error instanceof UpstreamFailure) return undefined;
    throw error;
  }
}

/** Frees the connection of an answer whose content is not needed, reading at most `maxBytes` of it. */
export async function discardBody(response: Response, maxBytes: number): Promise<void> {
  await readBodyText(response, maxBytes).catch(() => undefined);
}

/** A token is sent by every caller in a header: one longer than `maxBytes` is refused, not served. */
export function assertTokenSize(token: string, maxBytes: number, status?: number): void {
  const bytes = Buffer.byteLength(token, "utf8");
  if (bytes > maxBytes) {
    throw new UpstreamFailure("invalid", `access token of ${bytes} bytes exceeds the ${maxBytes}-byte limit`, { status });
  }
}

function tooLarge(status: number, maxBytes: number): UpstreamFailure {
  return new UpstreamFailure("invalid", `HTTP ${status} response larger than ${maxBytes} bytes, not read`, { status });
}

async function cancel(body: ReadableStream<Uint8Array> | null): Promise<void> {
  await body?.cancel().catch(() => undefined);
}
