import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The App Service / Functions managed identity endpoint, as MSAL's AppService source calls it:
 * `GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=<resource>` with header
 * `X-IDENTITY-HEADER: $IDENTITY_HEADER`. Plain HTTP on loopback, like the real one (which is
 * local to the App Service sandbox). Point DefaultAzureCredential at it with `env()`.
 *
 * MSAL keeps managed identity tokens in a process-wide cache, so use one instance per test file.
 */
export interface ManagedIdentityServerOptions {
  identityHeader?: string;
  clientId?: string;
  lifetimeSec?: number;
  /**
   * Makes the token for a request (default: an opaque `msi-…` string). Azure Managed Redis needs a
   * JWT whose `oid` claim names the identity.
   */
  mintToken?: (resource: string) => string;
}

export class ManagedIdentityServer {
  /** Every token request, in order (resource asked for and whether the identity header matched). */
  readonly requests: { resource: string | null; headerOk: boolean }[] = [];
  /** Statuses to answer the next token requests with, instead of a token. */
  readonly failures: number[] = [];
  private readonly issued = new Set<string>();
  readonly identityHeader: string;
  readonly clientId: string;
  private readonly lifetimeSec: number;
  private readonly mintToken: (resource: string) => string;

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
    options: ManagedIdentityServerOptions,
  ) {
    this.identityHeader = options.identityHeader ?? randomBytes(16).toString("hex");
    this.clientId = options.clientId ?? "5f0a3c1e-0000-4000-8000-00000000c11e";
    this.lifetimeSec = options.lifetimeSec ?? 3600;
    this.mintToken = options.mintToken ?? (() => `msi-${randomBytes(24).toString("base64url")}`);
  }

  static async start(options: ManagedIdentityServerOptions = {}): Promise<ManagedIdentityServer> {
    let msi: ManagedIdentityServer | undefined;
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => msi!.handle(req, res));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    msi = new ManagedIdentityServer(server, `http://127.0.0.1:${port}/msi/token`, options);
    return msi;
  }

  /** The variables the Functions host sets; MSAL reads them from process.env. */
  env(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } {
    return { IDENTITY_ENDPOINT: this.endpoint, IDENTITY_HEADER: this.identityHeader };
  }

  get requestCount(): number {
    return this.requests.length;
  }

  /** For the vault fake: was this token issued here? */
  isIssued(token: string): boolean {
    return this.issued.has(token);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.endpoint);
    const resource = url.searchParams.get("resource");
    const headerOk = req.headers["x-identity-header"] === this.identityHeader;
    this.requests.push({ resource, headerOk });
    if (req.method !== "GET" || !/^\/msi\/token\/?$/.test(url.pathname)) {
      return void send(res, 404, { error: "not_found" });
    }
    if (url.searchParams.get("api-version") !== "2019-08-01" || !resource) {
      return void send(res, 400, { statusCode: 400, message: "api-version 2019-08-01 and resource are required" });
    }
    if (!headerOk) return void send(res, 401, { statusCode: 401, message: "X-IDENTITY-HEADER is missing or wrong" });
    const failure = this.failures.shift();
    if (failure !== undefined) return void send(res, failure, { statusCode: failure, message: "Injected failure" });
    const token = this.mintToken(resource);
    this.issued.add(token);
    send(res, 200, {
      access_token: token,
      // App Service answers epoch seconds as a string.
      expires_on: String(Math.floor(Date.now() / 1000) + this.lifetimeSec),
      resource,
      token_type: "Bearer",
      client_id: this.clientId,
    });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}
