import type { IncomingMessage, ServerResponse } from "node:http";
import { checkEntraBearer, type AccessTokenVerifier } from "./access-token-verifier.js";
import { safeEqual, singleHeader } from "./credentials.js";
import { FLOWE } from "./demo-identities.js";
import { nextFault, type HttpFault } from "./faults.js";
import { sendJson, type SandboxHandler } from "./route.js";

export interface FloweSandboxOptions {
  /** Checks the Entra bearer tokens (the sandbox's EntraAuthority). */
  verifier: AccessTokenVerifier;
  /** The partner AuthKey the API demands next to the bearer token. */
  authKey: string;
  tenantId?: string;
  clientId?: string;
  partnerName?: string;
}

/**
 * Flowe (seed flowe-authentication.txt): REST calls need an Entra bearer token for
 * api://p1-<tier> PLUS the static `AuthKey` and `Partner` headers; the Service Bus is reached with a
 * token of the same app registration for https://servicebus.azure.net.
 *
 * Routes: GET /flowe/api/accounts, GET /flowe/servicebus/check.
 */
export class FloweSandbox {
  readonly handler: SandboxHandler;
  /** Consumed one per API request, before any check. */
  readonly faults: HttpFault[] = [];
  readonly requests = { accounts: 0, serviceBusCheck: 0, rejected: 0 };

  readonly #verifier: AccessTokenVerifier;
  readonly #tenantId: string;
  readonly #clientId: string;
  readonly #partnerName: string;
  #authKey: string;

  constructor(options: FloweSandboxOptions) {
    this.#verifier = options.verifier;
    this.#authKey = options.authKey;
    this.#tenantId = options.tenantId ?? FLOWE.tenantId;
    this.#clientId = options.clientId ?? FLOWE.clientId;
    this.#partnerName = options.partnerName ?? FLOWE.partnerName;
    this.handler = (req, res, _body, url) => this.#handle(req, res, url);
  }

  /** Flowe's admin issues a new AuthKey: the old one stops working at once. */
  setAuthKey(authKey: string): void {
    this.#authKey = authKey;
  }

  async #handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname === "/flowe/api/accounts") {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
      this.requests.accounts++;
      if (await nextFault(this.faults, res)) return true;
      return this.#accounts(req, res);
    }
    if (url.pathname === "/flowe/servicebus/check") {
      if (req.method !== "GET") return sendJson(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
      this.requests.serviceBusCheck++;
      if (await nextFault(this.faults, res)) return true;
      return this.#serviceBusCheck(req, res);
    }
    return false;
  }

  async #accounts(req: IncomingMessage, res: ServerResponse): Promise<true> {
    const bearer = await checkEntraBearer(req, this.#verifier, {
      audience: FLOWE.apiAudience,
      tenantId: this.#tenantId,
      clientId: this.#clientId,
    });
    if (!bearer.ok) return this.#reject(res, 401, bearer.reason);
    const authKey = singleHeader(req.headers.authkey);
    if (authKey === undefined) return this.#reject(res, 403, "missing AuthKey header");
    if (!safeEqual(authKey, this.#authKey)) return this.#reject(res, 403, "AuthKey is not valid for this partner");
    const partner = singleHeader(req.headers.partner);
    if (partner === undefined) return this.#reject(res, 403, "missing Partner header");
    if (partner !== this.#partnerName) return this.#reject(res, 403, "Partner does not match the credentials");
    return sendJson(res, 200, {
      partner: this.#partnerName,
      items: [
        { id: "acc-0001", iban: "IT60X0542811101000000123456", currency: "EUR", balance: "1250.00" },
        { id: "acc-0002", iban: "IT60X0542811101000000654321", currency: "EUR", balance: "98.10" },
      ],
    });
  }

  async #serviceBusCheck(req: IncomingMessage, res: ServerResponse): Promise<true> {
    const bearer = await checkEntraBearer(req, this.#verifier, {
      audience: FLOWE.serviceBusAudience,
      tenantId: this.#tenantId,
      clientId: this.#clientId,
    });
    if (!bearer.ok) return this.#reject(res, 401, bearer.reason);
    // The seed: the partner processes topic PARTNER_NAME, subscription PARTNER_NAME.
    return sendJson(res, 200, { status: "ok", topic: this.#partnerName, subscription: this.#partnerName });
  }

  #reject(res: ServerResponse, status: 401 | 403, reason: string): true {
    this.requests.rejected++;
    const headers: Record<string, string> = status === 401 ? { "www-authenticate": 'Bearer error="invalid_token"' } : {};
    return sendJson(res, status, { error: status === 401 ? "unauthorized" : "forbidden", reason }, headers);
  }
}
