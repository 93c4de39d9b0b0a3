import { randomBytes, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { parseBearer } from "./credentials.js";
import { sendJson, type SandboxHandler } from "./route.js";

export interface MtlsClient {
  clientId: string;
  /** The certificate the client must present (PEM; a PEM that also holds the key is accepted). */
  certificatePem: string;
}

const TOKEN_PATH = "/mtls/oauth2/token";
const API_PATH = "/mtls/api/ping";
const LIFETIME_SEC = 3600;

/**
 * A partner whose token endpoint authenticates clients by mutual TLS only (RFC 8705 §2.1
 * tls_client_auth): the client names itself with client_id and proves it with the certificate on
 * the connection; no secret is accepted. Tokens are bound to that certificate (RFC 8705 §3), so
 * its API also checks the certificate. Serve it with `requestClientCertificate: true`.
 */
export class MtlsPartnerSandbox {
  readonly handler: SandboxHandler;
  readonly requests = { token: 0, rejected: 0, api: 0 };
  private readonly clients = new Map<string, string>();
  /** access token → SHA-256 thumbprint of the certificate it is bound to. */
  private readonly tokens = new Map<string, string>();

  constructor(clients: MtlsClient[]) {
    for (const client of clients) this.register(client);
    this.handler = (req, res, body, url) => this.handle(req, res, body, url);
  }

  register(client: MtlsClient): void {
    this.clients.set(client.clientId, new X509Certificate(client.certificatePem).fingerprint256);
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): boolean {
    if (url.pathname === TOKEN_PATH) return this.token(req, res, body);
    if (url.pathname === API_PATH) return this.api(req, res);
    return false;
  }

  private token(req: IncomingMessage, res: ServerResponse, body: Buffer): boolean {
    if (req.method !== "POST") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "POST" });
    this.requests.token++;
    const form = new URLSearchParams(body.toString("utf8"));
    const presented = peerThumbprint(req);
    const expected = this.clients.get(form.get("client_id") ?? "");
    if (form.get("grant_type") !== "client_credentials") return this.reject(res, 400, "unsupported_grant_type");
    if (!presented || !expected || presented !== expected) return this.reject(res, 401, "invalid_client");
    const token = randomBytes(24).toString("base64url");
    this.tokens.set(token, presented);
    return sendJson(res, 200, { access_token: token, token_type: "Bearer", expires_in: LIFETIME_SEC });
  }

  private api(req: IncomingMessage, res: ServerResponse): boolean {
    this.requests.api++;
    const token = parseBearer(req.headers.authorization ?? "");
    const bound = token === undefined ? undefined : this.tokens.get(token);
    if (!bound) return sendJson(res, 401, { error: "invalid_token" });
    // A certificate-bound token is only good on a connection presenting the same certificate.
    if (peerThumbprint(req) !== bound) return sendJson(res, 401, { error: "invalid_token", reason: "certificate mismatch" });
    return sendJson(res, 200, { ok: true });
  }

  private reject(res: ServerResponse, status: number, error: string): true {
    this.requests.rejected++;
    return sendJson(res, status, { error });
  }
}

function peerThumbprint(req: IncomingMessage): string | undefined {
  const socket = req.socket as TLSSocket;
  const raw = typeof socket.getPeerX509Certificate === "function" ? socket.getPeerX509Certificate() : undefined;
  return raw?.fingerprint256;
}
