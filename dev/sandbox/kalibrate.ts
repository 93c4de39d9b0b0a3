import type { IncomingMessage, ServerResponse } from "node:http";
import { checkEntraBearer, type AccessTokenVerifier } from "./access-token-verifier.js";
import { singleHeader } from "./credentials.js";
import { KALIBRATE, KALIBRATE_FEDERATED } from "./demo-identities.js";
import { nextFault, type HttpFault } from "./faults.js";
import { sendJson, type SandboxHandler } from "./route.js";

export interface KalibrateSandboxOptions {
  verifier: AccessTokenVerifier;
  tenantId?: string;
  /** The app registrations granted access: by default the secret-based one and the federated one. */
  clientIds?: readonly string[];
}

/**
 * The agents HTTP libraries send when the caller sets none. The seed: "Our API Gateway does not
 * like script kiddies and will reject any python requests that have the default user agent set."
 */
const DEFAULT_LIBRARY_AGENT =
  /^(python-requests|python-urllib|python-httpx|aiohttp|httpx|node|node-fetch|undici|axios|got|curl|wget|Go-http-client|okhttp|Java|Apache-HttpClient|libwww-perl|Ruby|Faraday|RestSharp|Dart)(\/|\s|$)/i;

/**
 * Kalibrate Data API (seed kalibrate-data-api-authentication.txt): an Entra bearer token whose
 * audience is the scope without "/.default", behind a gateway that refuses requests without a
 * custom User-Agent. GET /kalibrate/api/status reports the credential it was given.
 */
export class KalibrateSandbox {
  readonly handler: SandboxHandler;
  readonly faults: HttpFault[] = [];
  readonly requests = { status: 0, gatewayRejected: 0, unauthorized: 0 };

  readonly #verifier: AccessTokenVerifier;
  readonly #tenantId: string;
  readonly #clientIds: readonly string[];

  constructor(options: KalibrateSandboxOptions) {
    this.#verifier = options.verifier;
    this.#tenantId = options.tenantId ?? KALIBRATE.tenantId;
    this.#clientIds = options.clientIds ?? [KALIBRATE.clientId, KALIBRATE_FEDERATED.clientId];
    this.handler = (req, res, _body, url) => this.#handle(req, res, url);
  }

  async #handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname !== "/kalibrate/api/status") return false;
    if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
    this.requests.status++;
    if (await nextFault(this.faults, res)) return true;

    // The gateway answers before the API sees the token.
    const agent = singleHeader(req.headers["user-agent"])?.trim() ?? "";
    if (agent === "" || DEFAULT_LIBRARY_AGENT.test(agent)) {
      this.requests.gatewayRejected++;
      return sendJson(res, 403, { error: "forbidden", reason: "request blocked by the API gateway: set a custom User-Agent" });
    }
    const bearer = await checkEntraBearer(req, this.#verifier, {
      audience: KALIBRATE.audience,
      tenantId: this.#tenantId,
      clientId: this.#clientIds,
    });
    if (!bearer.ok) {
      this.requests.unauthorized++;
      return sendJson(res, 401, { error: "unauthorized", reason: bearer.reason }, { "www-authenticate": 'Bearer error="invalid_token"' });
    }
    const claims = bearer.claims;
    // Shaped like the seed's status response, minus its "token" field: echoing a bearer token in a
    // response body is how tokens end up in logs.
    return sendJson(res, 200, {
      audience: claims.aud,
      issuer: claims.iss,
      version: typeof claims.ver === "string" ? claims.ver : "2.0",
      clientId: claims.appid ?? claims.azp,
      tenantId: claims.tid,
      expirationTime: typeof claims.exp === "number" ? new Date(claims.exp * 1000).toISOString() : undefined,
    });
  }
}
