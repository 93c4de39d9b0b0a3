import { createHash, randomUUID, timingSafeEqual, X509Certificate } from "node:crypto";
import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { z } from "zod";
import {
  isFederatedAssertion,
  managedIdentityToken,
  verifyFederatedAssertion,
  type FederatedCredential,
  type SandboxManagedIdentity,
} from "./entra-federation.js";
import { sendJson, type SandboxHandler } from "./route.js";

/** An app registration in the sandbox tenant. */
export interface EntraClient {
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  /** Public certificate (PEM) whose key signs client assertions; a PEM that also holds the key is accepted. */
  certificatePem?: string;
  /** Scopes this client may request, e.g. "api://p1-test/.default", "https://servicebus.azure.net/.default". */
  allowedScopes: string[];
  /** Workload identity federation: tokens of these issuers/subjects are accepted as client assertions. */
  federatedCredentials?: FederatedCredential[];
}

/** Consumed one per token request, in order: lets tests and demos script an unreliable authority. */
export type EntraFault =
  | { status: number; retryAfterSec?: number; error?: string }
  | { delayMs: number }
  | { garbage: true }
  | { destroy: true };

export interface EntraAuthorityOptions {
  /** The https origin the handler is served at; known only after listen, hence a function. */
  origin: () => string;
  now?: () => number;
  /** Entra's usual answer (and what Kalibrate and Flowe document). */
  tokenLifetimeSec?: number;
  clients: EntraClient[];
  /** The Function App's managed identities, served at `/msi/token` like the Functions host's identity endpoint. */
  managedIdentities?: SandboxManagedIdentity[];
}

export interface VerifyAccessTokenOptions {
  audience: string;
  tenantId: string;
}

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ASSERTION_ALGORITHMS = ["RS256", "PS256"];
/** Entra accepts client assertions and tokens within five minutes of skew. */
const CLOCK_SKEW_SEC = 300;

/** Where the managed identity endpoint is served, and the header secret it requires (App Service's X-IDENTITY-HEADER). */
const IDENTITY_PATH = "/msi/token";
/** How long managed identity tokens live (App Service: about a day). */
const IDENTITY_TOKEN_LIFETIME_SEC = 86_400;

const PATH = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/token)$/;

/** The form fields of a token request. Unknown fields (client_info, x-client-*, ...) are ignored like Entra does. */
const TokenRequestSchema = z.object({
  grant_type: z.string().min(1).optional(),
  client_id: z.string().min(1).optional(),
  scope: z.string().min(1).optional(),
  client_secret: z.string().min(1).optional(),
  client_assertion: z.string().min(1).optional(),
  client_assertion_type: z.string().min(1).optional(),
});
type TokenRequest = z.infer<typeof TokenRequestSchema>;

interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
  kid: string;
}

class EntraErrorResponse {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly code: number,
    readonly description: string,
  ) {}
}

/**
 * A Microsoft Entra ID look-alike for local runs and tests: the endpoints MSAL node (behind
 * ClientSecretCredential / ClientCertificateCredential with `authorityHost` = this origin and
 * `disableInstanceDiscovery: true`) calls — the v2.0 OpenID configuration, the JWKS and the
 * client-credentials token endpoint — with Entra's error shapes, plus fault injection and counters.
 * Real SDKs insist on HTTPS: serve `handler` with serveHandlers (dev/sandbox/serve.ts).
 */
export class EntraAuthority {
  /** Token faults to apply, first to the next token request. */
  readonly faults: EntraFault[] = [];
  /** Every POST to a token endpoint, faulted ones included. */
  tokenRequests = 0;
  /** Token requests whose client hung up while a delay fault held the answer back. */
  abandonedRequests = 0;
  /** Emits "abandoned" when a client hangs up during a delay fault: lets tests await cancellation. */
  readonly events = new EventEmitter();
  readonly handler: SandboxHandler;

  private readonly clients = new Map<string, EntraClient>();
  private readonly perClientScope = new Map<string, number>();
  private readonly now: () => number;
  private readonly lifetimeSec: number;
  private readonly signingKey: Promise<SigningKey>;
  private readonly identityHeader = randomUUID();
  /** Requests to the managed identity endpoint, refused ones included. */
  identityRequests = 0;

  constructor(private readonly options: EntraAuthorityOptions) {
    this.now = options.now ?? Date.now;
    this.lifetimeSec = options.tokenLifetimeSec ?? 3599;
    for (const client of options.clients) this.addClient(client);
    this.signingKey = createSigningKey();
    // Avoid an unhandled rejection if generation fails before the first request awaits it.
    this.signingKey.catch(() => undefined);
    this.handler = (req, res, body, url) => this.handle(req, res, body, url);
  }

  addClient(client: EntraClient): void {
    this.clients.set(clientKey(client.tenantId, client.clientId), { ...client, allowedScopes: [...client.allowedScopes] });
  }

  removeClient(tenantId: string, clientId: string): boolean {
    return this.clients.delete(clientKey(tenantId, clientId));
  }

  /** Rotation demos: the old secret stops working at once, as when an app secret is deleted. */
  setClientSecret(tenantId: string, clientId: string, clientSecret: string): void {
    this.requireClient(tenantId, clientId).clientSecret = clientSecret;
  }

  setClientCertificate(tenantId: string, clientId: string, certificatePem: string): void {
    this.requireClient(tenantId, clientId).certificatePem = certificatePem;
  }

  /** Token requests (faulted ones included) that named this client and exactly this scope string. */
  requestsFor(clientId: string, scope: string): number {
    return this.perClientScope.get(`${clientId} ${scope}`) ?? 0;
  }

  /** The app settings the Functions host sets for its managed identity; MSAL reads them from the environment. */
  managedIdentityEnv(): { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string } {
    return { IDENTITY_ENDPOINT: `${this.origin()}${IDENTITY_PATH}`, IDENTITY_HEADER: this.identityHeader };
  }

  issuer(tenantId: string): string {
    return `${this.origin()}/${tenantId}/v2.0`;
  }

  tokenEndpoint(tenantId: string): string {
    return `${this.origin()}/${tenantId}/oauth2/v2.0/token`;
  }

  jwksUri(tenantId: string): string {
    return `${this.origin()}/${tenantId}/discovery/v2.0/keys`;
  }

  /** For sandbox partner APIs that must check bearer tokens: the claims, or undefined if not valid here. */
  async verifyAccessToken(token: string, options: VerifyAccessTokenOptions): Promise<JWTPayload | undefined> {
    const key = await this.signingKey;
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: ["RS256"],
        issuer: this.issuer(options.tenantId),
        audience: options.audience,
        currentDate: new Date(this.now()),
        requiredClaims: ["exp", "iat", "tid"],
      });
      return payload.tid === options.tenantId ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  private origin(): string {
    return this.options.origin().replace(/\/+$/, "");
  }

  private requireClient(tenantId: string, clientId: string): EntraClient {
    const client = this.clients.get(clientKey(tenantId, clientId));
    if (!client) throw new Error(`EntraAuthority: no client ${clientId} in tenant ${tenantId}`);
    return client;
  }

  private hasTenant(tenantId: string): boolean {
    for (const client of this.clients.values()) if (client.tenantId === tenantId) return true;
    return false;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): Promise<boolean> {
    if (url.pathname === IDENTITY_PATH) return this.identity(req, res, url);
    const match = PATH.exec(url.pathname);
    if (!match) return false;
    const tenantId = decodeURIComponent(match[1]!);
    const endpoint = match[2]!;
    if (endpoint.startsWith("oauth2")) return this.token(req, res, body, tenantId);
    if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
    if (!this.hasTenant(tenantId)) return sendError(res, tenantNotFound(tenantId), this.now());
    if (endpoint.startsWith("v2.0")) return sendJson(res, 200, this.openIdConfiguration(tenantId));
    const key = await this.signingKey;
    return sendJson(res, 200, { keys: [{ ...key.jwk, kid: key.kid, use: "sig", alg: "RS256" }] });
  }

  private async identity(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    this.identityRequests++;
    if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
    if (req.headers["x-identity-header"] !== this.identityHeader) {
      return sendJson(res, 401, { statusCode: 401, message: "X-IDENTITY-HEADER is missing or wrong" });
    }
    const answer = await managedIdentityToken(
      url,
      this.options.managedIdentities ?? [],
      await this.signingKey,
      (tenantId) => this.issuer(tenantId),
      this.now(),
      IDENTITY_TOKEN_LIFETIME_SEC,
    );
    return sendJson(res, answer.status, answer.body);
  }

  /** Everything MSAL checks (issuer, authorization/token endpoints, jwks_uri) plus Entra's usual fields. */
  private openIdConfiguration(tenantId: string): Record<string, unknown> {
    const base = `${this.origin()}/${tenantId}`;
    return {
      token_endpoint: this.tokenEndpoint(tenantId),
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: this.jwksUri(tenantId),
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer: this.issuer(tenantId),
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${base}/openid/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "azp", "appid", "ver"],
      tenant_region_scope: null,
      cloud_instance_name: "sandbox.local",
      cloud_graph_host_name: "graph.sandbox.local",
      msgraph_host: "graph.sandbox.local",
    };
  }

  private async token(req: IncomingMessage, res: ServerResponse, body: Buffer, tenantId: string): Promise<boolean> {
    if (req.method !== "POST") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "POST" });
    this.tokenRequests++;
    const form = Object.fromEntries(new URLSearchParams(body.toString("utf8")));
    const countedClient = typeof form.client_id === "string" ? form.client_id : basicCredentials(req)?.clientId;
    if (countedClient !== undefined && typeof form.scope === "string") {
      const key = `${countedClient} ${form.scope}`;
      this.perClientScope.set(key, (this.perClientScope.get(key) ?? 0) + 1);
    }

    const fault = this.faults.shift();
    if (fault) {
      if ("destroy" in fault) {
        req.socket.destroy();
        return true;
      }
      if ("garbage" in fault) {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html><body>Service temporarily unavailable (sandbox garbage)</body></html>");
        return true;
      }
      if ("status" in fault) {
        const headers: Record<string, string> = {};
        if (fault.retryAfterSec !== undefined) headers["retry-after"] = String(fault.retryAfterSec);
        const error = new EntraErrorResponse(
          fault.status,
          fault.error ?? (fault.status === 429 || fault.status >= 500 ? "temporarily_unavailable" : "invalid_request"),
          fault.status === 429 ? 50196 : 90033,
          "A transient error has occurred. Please try again. (sandbox fault)",
        );
        return sendError(res, error, this.now(), headers);
      }
      // A delay, then a normal answer: for timeouts and slow-authority demos. A client that gives
      // up meanwhile is counted, so tests can prove their timeouts really cancel the request.
      if (await clientLeftDuring(res, fault.delayMs)) {
        this.abandonedRequests++;
        this.events.emit("abandoned");
        return true;
      }
    }

    const parsed = TokenRequestSchema.safeParse(form);
    if (!parsed.success) return sendError(res, new EntraErrorResponse(400, "invalid_request", 900144, "The request body is malformed."), this.now());
    const result = await this.issue(req, parsed.data, tenantId);
    if (result instanceof EntraErrorResponse) return sendError(res, result, this.now());
    return sendJson(res, 200, result);
  }

  private async issue(req: IncomingMessage, form: TokenRequest, tenantId: string): Promise<EntraErrorResponse | Record<string, unknown>> {
    if (!this.hasTenant(tenantId)) return tenantNotFound(tenantId);
    if (!form.grant_type) return missingParameter("grant_type");
    if (form.grant_type !== "client_credentials") {
      return new EntraErrorResponse(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
    }
    if (!form.scope) return missingParameter("scope");

    const basic = basicCredentials(req);
    const clientId = form.client_id ?? basic?.clientId ?? assertionIssuer(form.client_assertion);
    if (!clientId) return missingParameter("client_id");
    const client = this.clients.get(clientKey(tenantId, clientId));
    if (!client) {
      return new EntraErrorResponse(
        401,
        "invalid_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`,
      );
    }

    const secret = form.client_secret ?? basic?.clientSecret;
    let authMethod: "1" | "2";
    if (secret !== undefined) {
      if (!client.clientSecret || !sameSecret(secret, client.clientSecret)) {
        // Never echo what was sent: Entra doesn't either, and it may be a real secret.
        return new EntraErrorResponse(
          401,
          "invalid_client",
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        );
      }
      authMethod = "1";
    } else if (form.client_assertion !== undefined) {
      if (form.client_assertion_type !== ASSERTION_TYPE) {
        return new EntraErrorResponse(400, "invalid_request", 50027, "client_assertion_type must be " + ASSERTION_TYPE + ".");
      }
      const failure =
        client.federatedCredentials && isFederatedAssertion(form.client_assertion, client.clientId)
          ? await this.verifyFederated(form.client_assertion, client.federatedCredentials)
          : await this.verifyAssertion(form.client_assertion, client, tenantId);
      if (failure) return failure;
      authMethod = "2";
    } else {
      return new EntraErrorResponse(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }

    const scopes = form.scope.split(/\s+/).filter(Boolean);
    const scope = scopes[0];
    if (scopes.length !== 1 || !scope || !scope.endsWith("/.default")) {
      return new EntraErrorResponse(
        400,
        "invalid_scope",
        1002012,
        "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
      );
    }
    if (!client.allowedScopes.includes(scope)) {
      return new EntraErrorResponse(
        400,
        "invalid_scope",
        70011,
        `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
      );
    }

    const key = await this.signingKey;
    const nowSec = Math.floor(this.now() / 1000);
    const accessToken = await new SignJWT({
      tid: tenantId,
      appid: clientId,
      azp: clientId,
      azpacr: authMethod,
      oid: clientId,
      ver: "2.0",
      uti: randomUUID(),
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid })
      .setIssuer(this.issuer(tenantId))
      .setAudience(scope.slice(0, -"/.default".length))
      .setSubject(clientId)
      .setIssuedAt(nowSec)
      .setNotBefore(nowSec)
      .setExpirationTime(nowSec + this.lifetimeSec)
      .sign(key.privateKey);
    return { token_type: "Bearer", expires_in: this.lifetimeSec, ext_expires_in: this.lifetimeSec, access_token: accessToken };
  }

  private async verifyFederated(assertion: string, credentials: FederatedCredential[]): Promise<EntraErrorResponse | undefined> {
    const failure = await verifyFederatedAssertion(assertion, credentials, await this.signingKey, this.now(), CLOCK_SKEW_SEC);
    return failure && new EntraErrorResponse(failure.status, failure.error, failure.code, failure.description);
  }

  /** RFC 7523 client assertion, as MSAL builds it: RS256 (x5t) or PS256 (x5t#S256), iss = sub = client, aud = token endpoint. */
  private async verifyAssertion(assertion: string, client: EntraClient, tenantId: string): Promise<EntraErrorResponse | undefined> {
    const invalid = (code: number, description: string) => new EntraErrorResponse(401, "invalid_client", code, description);
    if (!client.certificatePem) return invalid(700027, "Client assertion contains an invalid signature. No certificate is registered for the app.");
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(certificateBlock(client.certificatePem));
    } catch {
      return invalid(700027, "Client assertion contains an invalid signature. The registered certificate cannot be read.");
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      return invalid(700027, "Client assertion is not a valid JWT.");
    }
    const x5t = header.x5t;
    const x5tS256 = (header as Record<string, unknown>)["x5t#S256"];
    const expected = {
      x5t: createHash("sha1").update(certificate.raw).digest("base64url"),
      x5tS256: createHash("sha256").update(certificate.raw).digest("base64url"),
    };
    if ((x5t !== undefined && x5t !== expected.x5t) || (x5tS256 !== undefined && x5tS256 !== expected.x5tS256)) {
      return invalid(700027, "Client assertion contains an invalid signature. [Reason - The key was not found.]");
    }
    try {
      await jwtVerify(assertion, certificate.publicKey, {
        algorithms: ASSERTION_ALGORITHMS,
        audience: this.tokenEndpoint(tenantId),
        issuer: client.clientId,
        subject: client.clientId,
        currentDate: new Date(this.now()),
        clockTolerance: CLOCK_SKEW_SEC,
        requiredClaims: ["exp"],
      });
      return undefined;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "ERR_JWT_EXPIRED" || (code === "ERR_JWT_CLAIM_VALIDATION_FAILED" && (error as { claim?: unknown }).claim === "nbf")) {
        return invalid(700024, "Client assertion is not within its valid time range.");
      }
      if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") {
        return invalid(700021, "Client assertion application identifier doesn't match 'client_id' parameter, or its audience is not the token endpoint.");
      }
      return invalid(700027, "Client assertion contains an invalid signature.");
    }
  }
}

/** Waits `ms`; true as soon as the client closes the connection instead. */
function clientLeftDuring(res: ServerResponse, ms: number): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      res.off("close", onClose);
      resolve(false);
    }, ms);
    timer.unref();
    res.once("close", onClose);
  });
}

async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, publicKey, jwk, kid: await calculateJwkThumbprint(jwk) };
}

function clientKey(tenantId: string, clientId: string): string {
  return `${tenantId.toLowerCase()}/${clientId.toLowerCase()}`;
}

function sameSecret(a: string, b: string): boolean {
  // Compare digests so neither length nor content leaks through timing.
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/** RFC 6749 §2.3.1 client_secret_basic (each part form-url-encoded before joining). */
function basicCredentials(req: IncomingMessage): { clientId: string; clientSecret: string } | undefined {
  const header = req.headers.authorization;
  if (!header?.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
  try {
    return { clientId: decode(decoded.slice(0, colon)), clientSecret: decode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

function assertionIssuer(assertion: string | undefined): string | undefined {
  if (!assertion) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(assertion.split(".")[1] ?? "", "base64url").toString("utf8")) as unknown;
    const iss = z.object({ iss: z.string().min(1) }).safeParse(payload);
    return iss.success ? iss.data.iss : undefined;
  } catch {
    return undefined;
  }
}

function certificateBlock(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  return match ? match[0] : pem;
}

function missingParameter(name: string): EntraErrorResponse {
  return new EntraErrorResponse(400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`);
}

function tenantNotFound(tenantId: string): EntraErrorResponse {
  return new EntraErrorResponse(
    400,
    "invalid_tenant",
    90002,
    `Tenant '${tenantId}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
  );
}

function sendError(res: ServerResponse, error: EntraErrorResponse, now: number, headers: Record<string, string> = {}): true {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date(now).toISOString();
  return sendJson(
    res,
    error.status,
    {
      error: error.error,
      error_description: `AADSTS${error.code}: ${error.description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [error.code],
      timestamp: timestamp.replace("T", " "),
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${error.code}`,
    },
    headers,
  );
}
