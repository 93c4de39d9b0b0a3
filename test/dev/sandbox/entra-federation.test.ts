import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import { EntraAuthority } from "../../../dev/sandbox/entra-authority.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";

const APP_TENANT = "a0000000-0000-4000-8000-0000000000a1";
const PARTNER_TENANT = "b0000000-0000-4000-8000-0000000000b1";
const SYSTEM = { tenantId: APP_TENANT, principalId: "5e5e0000-0000-4000-8000-00000000005e", clientId: "5e5e0000-0000-4000-8000-0000000000c1" };
const OTHER = {
  tenantId: APP_TENANT,
  principalId: "07e40000-0000-4000-8000-0000000000f0",
  clientId: "07e40000-0000-4000-8000-0000000000c2",
  userAssigned: true,
};
const FEDERATED_CLIENT = "fed00000-0000-4000-8000-0000000000fc";
const SCOPE = "api://partner-api/.default";
const EXCHANGE = "api://AzureADTokenExchange";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

let served: ServedHandlers;
let authority: EntraAuthority;
let nowMs = Date.now();

before(async () => {
  const tls = await ensureDevTls();
  authority = new EntraAuthority({ origin: () => served.url, now: () => nowMs, clients: [], managedIdentities: [SYSTEM, OTHER] });
  served = await serveHandlers([authority.handler], { tls });
  authority.addClient({
    tenantId: PARTNER_TENANT,
    clientId: FEDERATED_CLIENT,
    allowedScopes: [SCOPE],
    federatedCredentials: [{ issuer: authority.issuer(APP_TENANT), subject: SYSTEM.principalId, audiences: [EXCHANGE] }],
  });
});

after(() => served.close());

async function identityToken(resource: string, options: { clientId?: string; header?: string } = {}): Promise<Response> {
  const env = authority.managedIdentityEnv();
  const url = new URL(env.IDENTITY_ENDPOINT);
  url.searchParams.set("api-version", "2019-08-01");
  url.searchParams.set("resource", resource);
  if (options.clientId) url.searchParams.set("client_id", options.clientId);
  return fetch(url, { headers: { "x-identity-header": options.header ?? env.IDENTITY_HEADER } });
}

async function assertion(resource = EXCHANGE, clientId?: string): Promise<string> {
  const res = await identityToken(resource, clientId ? { clientId } : {});
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
}

function exchange(clientAssertion: string): Promise<Response> {
  return fetch(authority.tokenEndpoint(PARTNER_TENANT), {
    method: "POST",
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: FEDERATED_CLIENT,
      scope: SCOPE,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: clientAssertion,
    }),
  });
}

async function aadsts(res: Response): Promise<string> {
  const body = (await res.json()) as { error: string; error_description: string };
  return `${res.status} ${body.error} ${/^AADSTS\d+/.exec(body.error_description)?.[0]}`;
}

describe("sandbox managed identity endpoint", () => {
  it("issues an Entra-signed token of the system-assigned identity for the asked audience", async () => {
    const claims = decodeJwt(await assertion());
    assert.equal(claims.iss, authority.issuer(APP_TENANT));
    assert.equal(claims.sub, SYSTEM.principalId);
    assert.equal(claims.aud, EXCHANGE);
    assert.ok(typeof claims.exp === "number" && claims.exp * 1000 > nowMs);
  });

  it("serves a user-assigned identity by client id and refuses a wrong identity header", async () => {
    assert.equal(decodeJwt(await assertion(EXCHANGE, OTHER.clientId)).sub, OTHER.principalId);
    assert.equal((await identityToken(EXCHANGE, { header: "wrong" })).status, 401);
    assert.equal((await identityToken(EXCHANGE, { clientId: "no-such-identity" })).status, 400);
  });
});

describe("sandbox Entra token endpoint with a federated identity credential", () => {
  it("exchanges the trusted managed identity token for a partner token without any secret", async () => {
    const res = await exchange(await assertion());
    assert.equal(res.status, 200);
    const token = ((await res.json()) as { access_token: string }).access_token;
    const claims = await authority.verifyAccessToken(token, { audience: "api://partner-api", tenantId: PARTNER_TENANT });
    assert.equal(claims?.appid, FEDERATED_CLIENT);
  });

  it("refuses another identity's token with Entra's subject error", async () => {
    assert.equal(await aadsts(await exchange(await assertion(EXCHANGE, OTHER.clientId))), "401 invalid_client AADSTS700213");
  });

  it("refuses a token for another audience with Entra's audience error", async () => {
    assert.equal(await aadsts(await exchange(await assertion("api://something-else"))), "401 invalid_client AADSTS700212");
  });

  it("refuses an expired assertion, and one signed by anyone but the trusted issuer", async () => {
    const stale = await assertion();
    const at = nowMs;
    nowMs += 25 * 3600 * 1000;
    try {
      assert.equal(await aadsts(await exchange(stale)), "401 invalid_client AADSTS700024");
    } finally {
      nowMs = at;
    }
    const [header, payload] = stale.split(".");
    assert.equal(await aadsts(await exchange(`${header}.${payload}.${"A".repeat(342)}`)), "401 invalid_client AADSTS700027");
  });
});
