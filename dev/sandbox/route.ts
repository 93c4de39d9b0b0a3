import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * A piece of the sandbox partner server. Returns true when it handled the request. The body is
 * read once by the server and handed to every handler.
 */
export type SandboxHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL) => boolean | Promise<boolean>;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(text);
  return true;
}
