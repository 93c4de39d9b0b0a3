import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** Lower-cased names, as node:http gives them. */
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeResponse {
  status?: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Wait this long before answering (a slow partner; timeouts). */
  delayMs?: number;
  /** Drop the connection without answering (a network error for the client). */
  destroy?: boolean;
}

export type FakeHandler = (request: RecordedRequest) => FakeResponse | Promise<FakeResponse>;

/**
 * A loopback HTTP partner endpoint (127.0.0.1, port 0). Every request is recorded; answers come
 * from a queue of scripted responses, then from a fallback (by default a 200 token response).
 */
export class TokenEndpointServer {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: (FakeResponse | FakeHandler)[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private fallback: FakeResponse | FakeHandler;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    fallback: FakeResponse | FakeHandler,
  ) {
    this.fallback = fallback;
  }

  static async start(fallback: FakeResponse | FakeHandler = DEFAULT_RESPONSE): Promise<TokenEndpointServer> {
    let self: TokenEndpointServer | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const recorded: RecordedRequest = {
          method: req.method ?? "",
          path: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        };
        void self!.answer(recorded, res);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    self = new TokenEndpointServer(server, (server.address() as AddressInfo).port, fallback);
    return self;
  }

  url(path = "/token"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Scripts the next answers, in order; each is used once. */
  enqueue(...responses: (FakeResponse | FakeHandler)[]): void {
    this.queue.push(...responses);
  }

  /** The answer once the queue is empty. */
  setFallback(fallback: FakeResponse | FakeHandler): void {
    this.fallback = fallback;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(request: RecordedRequest, res: ServerResponse): Promise<void> {
    this.requests.push(request);
    const next = this.queue.shift() ?? this.fallback;
    const response = typeof next === "function" ? await next(request) : next;
    if (response.delayMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, response.delayMs);
        this.timers.add(timer);
      });
    }
    if (res.destroyed) return;
    if (response.destroy) {
      res.socket?.destroy();
      return;
    }
    const isText = typeof response.body === "string";
    const body = response.body === undefined ? "" : isText ? (response.body as string) : JSON.stringify(response.body);
    const headers: Record<string, string> = { ...response.headers };
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
      headers["Content-Type"] = isText ? "text/plain" : "application/json";
    }
    res.writeHead(response.status ?? 200, headers).end(body);
  }
}

const DEFAULT_RESPONSE: FakeResponse = {
  body: { access_token: "fake-access-token", token_type: "Bearer", expires_in: 3600 },
};
