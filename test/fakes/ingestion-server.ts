import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { IncomingMessage, ServerResponse } from "node:http";
import { gunzipSync } from "node:zlib";
import type { DevTls } from "../../dev/tls.js";

/** One telemetry item as the Azure Monitor exporter sends it (the Breeze envelope). */
export interface Envelope {
  name: string;
  iKey: string;
  time: string;
  tags?: Record<string, string>;
  data: { baseType: string; baseData: Record<string, unknown> & { properties?: Record<string, string> } };
}

export interface IngestionRequest {
  authorization: string | undefined;
  /** Whether the bearer token was one the identity fake issued. */
  authorized: boolean;
  gzip: boolean;
  /** The raw body as received (decompressed), for canary scans. */
  body: string;
  envelopes: Envelope[];
}

/**
 * Application Insights ingestion on loopback HTTPS: `POST /v2.1/track` with a JSON array of
 * envelopes (gzip only toward Azure Monitor domains), answered `{itemsReceived, itemsAccepted,
 * errors}`. Requests without an accepted bearer token get 401, as an Application Insights resource
 * with local authentication disabled answers: the exporter reports success either way, so tests
 * assert on what arrived here.
 */
export class IngestionServer {
  readonly requests: IngestionRequest[] = [];
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly acceptToken: (token: string) => boolean,
  ) {}

  static async start(options: { tls: DevTls; acceptToken: (token: string) => boolean }): Promise<IngestionServer> {
    let ingestion: IngestionServer | undefined;
    const server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => ingestion!.handle(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    ingestion = new IngestionServer(server, `https://127.0.0.1:${port}/`, options.acceptToken);
    return ingestion;
  }

  /** A connection string pointing the exporter here (live metrics at a dead loopback port). */
  connectionString(instrumentationKey: string): string {
    return `InstrumentationKey=${instrumentationKey};IngestionEndpoint=${this.url};LiveEndpoint=https://127.0.0.1:9/`;
  }

  /** Envelopes from authorized requests only. */
  get accepted(): Envelope[] {
    return this.requests.filter((r) => r.authorized).flatMap((r) => r.envelopes);
  }

  /** Resolves once `predicate` holds for what was accepted so far. */
  async waitFor(predicate: (envelopes: Envelope[]) => boolean, timeoutMs = 20_000): Promise<void> {
    if (predicate(this.accepted)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`ingestion: condition not met within ${timeoutMs} ms (${this.accepted.length} envelopes)`));
      }, timeoutMs);
      const check = () => {
        if (!predicate(this.accepted)) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const url = new URL(req.url ?? "/", this.url);
    if (req.method !== "POST" || url.pathname !== "/v2.1/track") return void reply(res, 404, { error: "not found" });
    const gzip = req.headers["content-encoding"] === "gzip";
    let body: string;
    let envelopes: Envelope[];
    try {
      body = (gzip ? gunzipSync(raw) : raw).toString("utf8");
      envelopes = JSON.parse(body) as Envelope[];
      if (!Array.isArray(envelopes)) throw new TypeError("not an array");
    } catch {
      return void reply(res, 400, { itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: 400, message: "Invalid payload" }] });
    }
    const authorization = req.headers.authorization;
    const token = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
    const authorized = token !== undefined && this.acceptToken(token);
    this.requests.push({ authorization, authorized, gzip, body, envelopes });
    if (!authorized) {
      reply(res, 401, { itemsReceived: envelopes.length, itemsAccepted: 0, errors: [] });
    } else {
      reply(res, 200, { itemsReceived: envelopes.length, itemsAccepted: envelopes.length, errors: [] });
    }
    for (const listener of [...this.listeners]) listener();
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
