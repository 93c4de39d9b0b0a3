import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { FLOWE, KALIBRATE } from "../../../dev/sandbox/demo-identities.js";
import { EntraAuthority } from "../../../dev/sandbox/entra-authority.js";
import { FloweSandbox } from "../../../dev/sandbox/flowe.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";

const CLIENT_SECRET = `CANARY-secret-${randomBytes(6).toString("hex")}`;
const AUTH_KEY = `CANARY-authkey-${randomBytes(6).toString("hex")}`;
/** A second app registration of the Flowe tenant, allowed the same scope. */
const OTHER_CLIENT = { clientId: "11111111-2222-4333-8444-555555555555", secret: `CANARY-other-${randomBytes(6).toString("hex")}` };

let server: ServedHandlers;
let flowe: FloweSandbox;

before(async () => {
  const tls = await ensureDevTls();
  let origin = "";
  const authority = new EntraAuthority({
    origin: () => origin,
    clients: [
      { tenantId: FLOWE.tenantId, clientId: FLOWE.clientId, clientSecret: CLIENT_SECRET, allowedScopes: [FLOWE.apiScope, FLOWE.serviceBusScope] },
      { tenantId: FLOWE.tenantId, clientId: OTHER_CLIENT.clientId, clientSecret: OTHER_CLIENT.secret, allowedScopes: [FLOWE.apiScope] },
      { tenantId: KALIBRATE.tenantId, clientId: FLOWE.clientId, clientSecret: CLIENT_SECRET, allowedScopes: [FLOWE.apiScope] },
    ],
  });
  flowe = new FloweSandbox({ verifier: authority, authKey: AUTH_KEY });
  server = await serveHandlers([flowe.handler, authority.handler], { tls });
  origin = server.url;
});

after(() => server.close());

async function token(
  scope: string,
  client: { clientId: string; secret: string } = { clientId: FLOWE.clientId, secret: CLIENT_SECRET },
  tenantId: string = FLOWE.tenantId,
): Promise<string> {
  const response = await fetch(`${server.url}/${tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: client.clientId, client_secret: client.secret, scope }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function accounts(headers: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}/flowe/api/accounts`, { headers });
}

async function goodHeaders(): Promise<Record<string, string>> {
  return { Authorization: `Bearer ${await token(FLOWE.apiScope)}`, AuthKey: AUTH_KEY, Partner: FLOWE.partnerName, "Content-Type": "application/json" };
}

describe("Flowe sandbox", () => {
  it("serves accounts to an api://p1-test bearer sent with the partner's AuthKey and Partner headers", async () => {
    const before = flowe.requests.accounts;
    const response = await accounts(await goodHeaders());
    assert.equal(response.status, 200);
    const body = (await response.json()) as { partner: string; items: unknown[] };
    assert.equal(body.partner, FLOWE.partnerName);
    assert.ok(body.items.length > 0);
    assert.equal(flowe.requests.accounts, before + 1);
  });

  it("answers 401 without a bearer token, with a scheme other than Bearer, or with a tampered token", async () => {
    const good = await goodHeaders();
    const { Authorization: _dropped, ...noBearer } = good;
    const tampered = good.Authorization!.slice(0, -4) + (good.Authorization!.endsWith("AAAA") ? "BBBB" : "AAAA");
    for (const headers of [noBearer, { ...good, Authorization: good.Authorization!.replace("Bearer", "Basic") }, { ...good, Authorization: tampered }]) {
      const response = await accounts(headers);
      assert.equal(response.status, 401);
      assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
      assert.equal(typeof ((await response.json()) as { reason: unknown }).reason, "string");
    }
  });

  it("refuses a Service Bus token on the REST API (wrong audience)", async () => {
    const response = await accounts({ ...(await goodHeaders()), Authorization: `Bearer ${await token(FLOWE.serviceBusScope)}` });
    assert.equal(response.status, 401);
  });

  it("refuses a token issued to another app registration or by another tenant", async () => {
    const other = await token(FLOWE.apiScope, OTHER_CLIENT);
    assert.equal((await accounts({ ...(await goodHeaders()), Authorization: `Bearer ${other}` })).status, 401);
    const otherTenant = await token(FLOWE.apiScope, { clientId: FLOWE.clientId, secret: CLIENT_SECRET }, KALIBRATE.tenantId);
    assert.equal((await accounts({ ...(await goodHeaders()), Authorization: `Bearer ${otherTenant}` })).status, 401);
  });

  it("answers 403 to a missing or wrong AuthKey without echoing the value sent", async () => {
    const { AuthKey: _dropped, ...noAuthKey } = await goodHeaders();
    const missing = await accounts(noAuthKey);
    assert.equal(missing.status, 403);
    assert.match(((await missing.json()) as { reason: string }).reason, /AuthKey/);
    const wrongValue = `CANARY-wrong-${randomBytes(6).toString("hex")}`;
    const wrong = await accounts({ ...(await goodHeaders()), AuthKey: wrongValue });
    assert.equal(wrong.status, 403);
    const text = await wrong.text();
    assert.ok(!text.includes(wrongValue) && !text.includes(AUTH_KEY));
  });

  it("answers 403 to a missing or different Partner header", async () => {
    const { Partner: _dropped, ...noPartner } = await goodHeaders();
    assert.equal((await accounts(noPartner)).status, 403);
    assert.equal((await accounts({ ...(await goodHeaders()), Partner: "someone-else" })).status, 403);
  });

  it("checks Service Bus access with a token for https://servicebus.azure.net only", async () => {
    const check = (bearer: string) => fetch(`${server.url}/flowe/servicebus/check`, { headers: { Authorization: `Bearer ${bearer}` } });
    const ok = await check(await token(FLOWE.serviceBusScope));
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { status: "ok", topic: FLOWE.partnerName, subscription: FLOWE.partnerName });
    assert.equal((await check(await token(FLOWE.apiScope))).status, 401);
  });

  it("stops accepting the old AuthKey once a new one is issued", async () => {
    const headers = await goodHeaders();
    const next = `CANARY-next-${randomBytes(6).toString("hex")}`;
    flowe.setAuthKey(next);
    try {
      assert.equal((await accounts(headers)).status, 403);
      assert.equal((await accounts({ ...headers, AuthKey: next })).status, 200);
    } finally {
      flowe.setAuthKey(AUTH_KEY);
    }
  });

  it("applies queued faults before any credential check, one per request", async () => {
    flowe.faults.push({ status: 503 }, { status: 429, retryAfterSec: 7 });
    const first = await accounts({});
    assert.equal(first.status, 503);
    const second = await accounts({});
    assert.equal(second.status, 429);
    assert.equal(second.headers.get("retry-after"), "7");
    assert.equal((await accounts(await goodHeaders())).status, 200);
  });
});
