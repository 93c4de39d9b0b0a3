import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalCallerIssuer } from "../../../dev/caller-issuer.js";
import { AYYEKA, DEMO_SECRET_NAMES, FLOWE, KALIBRATE } from "../../../dev/sandbox/demo-identities.js";
import { startSandbox, type Sandbox } from "../../../dev/sandbox/sandbox.js";
import { ensureDevTls } from "../../../dev/tls.js";

let sandbox: Sandbox;
let issuer: LocalCallerIssuer;
const issuerDir = mkdtempSync(join(tmpdir(), "sandbox-issuer-"));

before(async () => {
  issuer = await LocalCallerIssuer.load(issuerDir);
  sandbox = await startSandbox({ tls: await ensureDevTls(), issuer });
});

after(async () => {
  await sandbox.close();
  rmSync(issuerDir, { recursive: true, force: true });
});

async function entraToken(tenantId: string, clientId: string, secret: string, scope: string): Promise<string> {
  const response = await fetch(`${sandbox.url}/${tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe("startSandbox", () => {
  it("serves every partner, the authority, the caller JWKS and a health check on one loopback HTTPS port", async () => {
    assert.match(sandbox.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(sandbox.url, `https://127.0.0.1:${sandbox.port}`);
    const health = await fetch(`${sandbox.url}/_sandbox/health`);
    assert.equal(health.status, 200);
    const jwks = (await (await fetch(`${sandbox.url}/caller-issuer/jwks`)).json()) as { keys: { kid?: string }[] };
    assert.equal(jwks.keys[0]?.kid, issuer.kid);
    const discovery = (await (await fetch(`${sandbox.url}/${FLOWE.tenantId}/v2.0/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
    assert.equal(discovery.token_endpoint, `${sandbox.url}/${FLOWE.tenantId}/oauth2/v2.0/token`);
  });

  it("returns fresh random secrets under the six names the demo configuration uses", async () => {
    assert.deepEqual(Object.keys(sandbox.secrets).sort(), Object.values(DEMO_SECRET_NAMES).sort());
    const values = Object.values(sandbox.secrets);
    assert.equal(new Set(values).size, values.length);
    const silverflow = JSON.parse(sandbox.secrets["silverflow-api-key"]) as { id: string; secret: string };
    assert.match(silverflow.id, /^apk-[A-Za-z0-9]{20}$/);
    assert.match(silverflow.secret, /^[A-Za-z0-9]{32}$/);
    const again = await startSandbox({ tls: await ensureDevTls() });
    try {
      assert.notEqual(again.secrets["flowe-client-secret"], sandbox.secrets["flowe-client-secret"]);
      const res = await fetch(`${again.url}/caller-issuer/jwks`);
      assert.equal(res.status, 404, "no issuer given, no JWKS");
    } finally {
      await again.close();
    }
  });

  it("accepts the generated credentials at every partner exactly as the seeds describe", async () => {
    const s = sandbox.secrets;
    const floweApi = await entraToken(FLOWE.tenantId, FLOWE.clientId, s["flowe-client-secret"], FLOWE.apiScope);
    const accounts = await fetch(`${sandbox.url}/flowe/api/accounts`, {
      headers: { Authorization: `Bearer ${floweApi}`, AuthKey: s["flowe-authkey"], Partner: FLOWE.partnerName },
    });
    assert.equal(accounts.status, 200);
    const floweBus = await entraToken(FLOWE.tenantId, FLOWE.clientId, s["flowe-client-secret"], FLOWE.serviceBusScope);
    assert.equal((await fetch(`${sandbox.url}/flowe/servicebus/check`, { headers: { Authorization: `Bearer ${floweBus}` } })).status, 200);

    const kalibrate = await entraToken(KALIBRATE.tenantId, KALIBRATE.clientId, s["kalibrate-client-secret"], KALIBRATE.scope);
    const status = await fetch(`${sandbox.url}/kalibrate/api/status`, { headers: { Authorization: `Bearer ${kalibrate}`, "User-Agent": KALIBRATE.userAgent } });
    assert.equal(status.status, 200);

    const ayyekaToken = await fetch(`${sandbox.url}/ayyeka/auth/token`, {
      method: "POST",
      headers: {
        Authorization: `Basic ${Buffer.from(`${AYYEKA.clientKey}:${s["ayyeka-client-secret"]}`).toString("base64")}`,
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: "grant_type=client_credentials",
    });
    const { access_token } = (await ayyekaToken.json()) as { access_token: string };
    assert.equal((await fetch(`${sandbox.url}/ayyeka/v2.0/site`, { headers: { Authorization: `Bearer ${access_token}` } })).status, 200);

    const sf = JSON.parse(s["silverflow-api-key"]) as { id: string; secret: string };
    const basic = `Basic ${Buffer.from(`${sf.id}:${sf.secret}`).toString("base64")}`;
    assert.equal((await fetch(`${sandbox.url}/silverflow/charges`, { headers: { Authorization: basic } })).status, 200);
    const minted = await fetch(`${sandbox.url}/silverflow/bearer-tokens`, {
      method: "POST",
      headers: { Authorization: basic, "Content-Type": "application/json" },
      body: JSON.stringify({ permissions: ["charges:List"] }),
    });
    assert.equal(minted.status, 201);
    assert.deepEqual(sandbox.silverflow.keys()[0]?.permissions, ["apiKeys:All", "charges:List", "bearerTokens:Create"]);

    assert.equal((await fetch(`${sandbox.url}/phixflow/api/1/ping`, { headers: { Authorization: s["phixflow-api-key"] } })).status, 200);
    assert.equal(sandbox.authority.tokenRequests, 3);
  });

  it("refuses one partner's credentials at another", async () => {
    const s = sandbox.secrets;
    const kalibrate = await entraToken(KALIBRATE.tenantId, KALIBRATE.clientId, s["kalibrate-client-secret"], KALIBRATE.scope);
    const accounts = await fetch(`${sandbox.url}/flowe/api/accounts`, {
      headers: { Authorization: `Bearer ${kalibrate}`, AuthKey: s["flowe-authkey"], Partner: FLOWE.partnerName },
    });
    assert.equal(accounts.status, 401);
    assert.equal((await fetch(`${sandbox.url}/phixflow/api/1/ping`, { headers: { Authorization: s["flowe-authkey"] } })).status, 401);
    assert.equal((await fetch(`${sandbox.url}/nowhere`)).status, 404);
  });
});
