import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { FLOWE, KALIBRATE } from "../../../dev/sandbox/demo-identities.js";
import { EntraAuthority } from "../../../dev/sandbox/entra-authority.js";
import { KalibrateSandbox } from "../../../dev/sandbox/kalibrate.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";

const SECRET = `CANARY-${randomBytes(6).toString("hex")}`;
let server: ServedHandlers;
let kalibrate: KalibrateSandbox;
/** The authority's clock, moved by hand to expire tokens. */
let nowMs = Date.now();

before(async () => {
  const tls = await ensureDevTls();
  let origin = "";
  const authority = new EntraAuthority({
    origin: () => origin,
    now: () => nowMs,
    clients: [
      { tenantId: KALIBRATE.tenantId, clientId: KALIBRATE.clientId, clientSecret: SECRET, allowedScopes: [KALIBRATE.scope] },
      { tenantId: FLOWE.tenantId, clientId: FLOWE.clientId, clientSecret: SECRET, allowedScopes: [FLOWE.apiScope] },
    ],
  });
  kalibrate = new KalibrateSandbox({ verifier: authority });
  server = await serveHandlers([kalibrate.handler, authority.handler], { tls });
  origin = server.url;
});

after(() => server.close());

async function token(tenantId: string = KALIBRATE.tenantId, clientId: string = KALIBRATE.clientId, scope: string = KALIBRATE.scope): Promise<string> {
  const response = await fetch(`${server.url}/${tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: SECRET, scope }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function status(headers: Record<string, string>): Promise<Response> {
  return fetch(`${server.url}/kalibrate/api/status`, { headers });
}

describe("Kalibrate sandbox", () => {
  it("reports the credential on /api/status for a valid bearer and a custom User-Agent, without echoing the token", async () => {
    const bearer = await token();
    const response = await status({ Authorization: `Bearer ${bearer}`, "User-Agent": KALIBRATE.userAgent });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.ok(!text.includes(bearer), "the status body must not contain the bearer token");
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.equal(body.token, undefined);
    assert.equal(body.audience, KALIBRATE.audience);
    assert.equal(body.clientId, KALIBRATE.clientId);
    assert.equal(body.tenantId, KALIBRATE.tenantId);
    assert.match(String(body.issuer), new RegExp(`/${KALIBRATE.tenantId}/`));
    assert.ok(Date.parse(String(body.expirationTime)) > Date.now());
  });

  it("rejects at the gateway (403) a missing User-Agent or the default agent of common HTTP libraries, even with a valid token", async () => {
    const bearer = await token();
    const before = kalibrate.requests.gatewayRejected;
    const agents = ["", "node", "undici", "python-requests/2.31.0", "curl/8.4.0", "Go-http-client/1.1", "axios/1.6.8", "okhttp/4.12.0", "Java/17.0.2"];
    for (const agent of agents) {
      const response = await status({ Authorization: `Bearer ${bearer}`, "User-Agent": agent });
      assert.equal(response.status, 403, `agent "${agent}"`);
    }
    // Global fetch without a User-Agent of its own sends "node".
    assert.equal((await status({ Authorization: `Bearer ${bearer}` })).status, 403);
    assert.equal(kalibrate.requests.gatewayRejected, before + agents.length + 1);
  });

  it("accepts custom agents that merely contain a library name", async () => {
    const bearer = await token();
    for (const agent of ["API-CLIENT", "token-broker/0.1 (node)", "my-python-requests-wrapper"]) {
      assert.equal((await status({ Authorization: `Bearer ${bearer}`, "User-Agent": agent })).status, 200, agent);
    }
  });

  it("answers 401 with a custom agent but no bearer, a bad bearer, or a token for another tenant's API", async () => {
    const ua = { "User-Agent": KALIBRATE.userAgent };
    assert.equal((await status(ua)).status, 401);
    assert.equal((await status({ ...ua, Authorization: "Bearer not-a-jwt" })).status, 401);
    assert.equal((await status({ ...ua, Authorization: `Bearer ${await token(FLOWE.tenantId, FLOWE.clientId, FLOWE.apiScope)}` })).status, 401);
  });

  it("refuses a token once it has expired (3599 s later on the authority's clock)", async () => {
    const bearer = await token();
    const headers = { Authorization: `Bearer ${bearer}`, "User-Agent": KALIBRATE.userAgent };
    assert.equal((await status(headers)).status, 200);
    nowMs += 3600_000;
    try {
      assert.equal((await status(headers)).status, 401);
    } finally {
      nowMs -= 3600_000;
    }
  });

  it("applies a queued fault before the gateway check", async () => {
    kalibrate.faults.push({ garbage: true });
    const response = await status({});
    assert.equal(response.status, 200);
    await assert.rejects(response.json());
  });
});
