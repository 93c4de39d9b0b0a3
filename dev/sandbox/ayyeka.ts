import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { SignJWT, generateKeyPair, jwtVerify, type CryptoKey } from "jose";
import { basicCandidates, parseBasic, parseBearer, safeEqual, singleHeader } from "./credentials.js";
import { AYYEKA } from "./demo-identities.js";
import { nextFault, type HttpFault } from "./faults.js";
import { sendJson, type SandboxHandler } from "./route.js";

export interface AyyekaSandboxOptions {
  clientSecret: string;
  clientKey?: string;
  tokenLifetimeSec?: number;
  /** The seed's sample token is RS384. */
  algorithm?: "RS384" | "RS256";
  /** Epoch ms; tests pass a movable clock to expire tokens without waiting. */
  now?: () => number;
}

const ISSUER = "Cloud";
const AUDIENCE = "ayyeka-rest-api";

/**
 * Ayyeka (seed ayyeka-authentication.txt): OAuth2 client credentials at POST /ayyeka/auth/token,
 * the client authenticated with HTTP Basic key:secret; the answer's token_type is "JWT" (not
 * "Bearer"), and GET /ayyeka/v2.0/site takes `Authorization: Bearer <access_token>`.
 */
export class AyyekaSandbox {
  readonly handler: SandboxHandler;
  /** Consumed one per token request, before any check. */
  readonly faults: HttpFault[] = [];
  tokenRequests = 0;
  readonly requests = { tokensIssued: 0, site: 0, siteRejected: 0 };

  readonly #clientKey: string;
  readonly #lifetimeSec: number;
  readonly #algorithm: "RS384" | "RS256";
  readonly #now: () => number;
  readonly #keys: Promise<{ publicKey: CryptoKey; privateKey: CryptoKey }>;
  /** jti of every token still honoured: revokeTokens() empties it. */
  readonly #live = new Set<string>();
  #clientSecret: string;

  constructor(options: AyyekaSandboxOptions) {
    this.#clientSecret = options.clientSecret;
    this.#clientKey = options.clientKey ?? AYYEKA.clientKey;
    this.#lifetimeSec = options.tokenLifetimeSec ?? 3600;
    this.#algorithm = options.algorithm ?? "RS384";
    this.#now = options.now ?? Date.now;
    this.#keys = generateKeyPair(this.#algorithm);
    // Avoid an unhandled rejection if generation fails before the first request awaits it.
    this.#keys.catch(() => undefined);
    this.handler = (req, res, body, url) => this.#handle(req, res, body, url);
  }

  /** The customer generated a new secret in the FAI platform: the old one is refused from now on. */
  setClientSecret(secret: string): void {
    this.#clientSecret = secret;
  }

  /** Every token issued so far is refused by the API (forces the broker to fetch a new one). */
  revokeTokens(): void {
    this.#live.clear();
  }

  async #handle(req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL): Promise<boolean> {
    if (url.pathname === "/ayyeka/auth/token") {
      if (req.method !== "POST") return sendJson(res, 405, { error: "invalid_request" }, { allow: "POST" });
      this.tokenRequests++;
      if (await nextFault(this.faults, res)) return true;
      return this.#token(req, res, body);
    }
    if (url.pathname === "/ayyeka/v2.0/site") {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
      this.requests.site++;
      return this.#site(req, res);
    }
    return false;
  }

  async #token(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<true> {
    const basic = parseBasic(singleHeader(req.headers.authorization));
    const authenticated =
      basic !== undefined &&
      basicCandidates(basic).some((c) => safeEqual(c.user, this.#clientKey) && safeEqual(c.password, this.#clientSecret));
    if (!authenticated) {
      return sendJson(res, 401, { error: "invalid_client" }, { "www-authenticate": 'Basic realm="ayyeka"', pragma: "no-cache" });
    }
    const contentType = singleHeader(req.headers["content-type"]) ?? "";
    if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) {
      return sendJson(res, 400, { error: "invalid_request", error_description: "expected a form-encoded body" });
    }
    const grant = new URLSearchParams(body.toString("utf8")).get("grant_type")?.trim();
    if (!grant) return sendJson(res, 400, { error: "invalid_request", error_description: "grant_type is required" });
    if (grant !== "client_credentials") return sendJson(res, 400, { error: "unsupported_grant_type" });

    const { privateKey } = await this.#keys;
    const iat = Math.floor(this.#now() / 1000);
    const jti = randomUUID();
    const accessToken = await new SignJWT({})
      .setProtectedHeader({ alg: this.#algorithm, typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(this.#clientKey)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.#lifetimeSec)
      .sign(privateKey);
    this.#live.add(jti);
    this.requests.tokensIssued++;
    return sendJson(
      res,
      200,
      { access_token: accessToken, token_type: "JWT", expires_in: this.#lifetimeSec },
      { pragma: "no-cache" },
    );
  }

  async #site(req: IncomingMessage, res: ServerResponse): Promise<true> {
    const token = parseBearer(singleHeader(req.headers.authorization));
    if (token === undefined || !(await this.#valid(token))) {
      this.requests.siteRejected++;
      return sendJson(res, 401, { error: "invalid_token" }, { "www-authenticate": 'Bearer error="invalid_token"' });
    }
    return sendJson(res, 200, {
      items: [
        { id: 2091, name: "North reservoir", status: "active" },
        { id: 2092, name: "Pump station 4", status: "active" },
      ],
    });
  }

  async #valid(token: string): Promise<boolean> {
    try {
      const { publicKey } = await this.#keys;
      const { payload } = await jwtVerify(token, publicKey, {
        algorithms: [this.#algorithm],
        issuer: ISSUER,
        audience: AUDIENCE,
        subject: this.#clientKey,
        currentDate: new Date(this.#now()),
        requiredClaims: ["exp", "jti"],
      });
      return typeof payload.jti === "string" && this.#live.has(payload.jti);
    } catch {
      return false;
    }
  }
}
