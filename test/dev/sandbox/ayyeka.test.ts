import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { decodeProtectedHeader, decodeJwt } from "jose";
import { AyyekaSandbox } from "../../../dev/sandbox/ayyeka.js";
import { AYYEKA } from "../../../dev/sandbox/demo-identities.js";
import { serveHandlers, type ServedHandlers } from "../../../dev/sandbox/serve.js";
import { ensureDevTls } from "../../../dev/tls.js";

/** Reserved characters on purpose: RFC 7617 and RFC 6749 encodings of it differ. */
const SECRET = `CANARY-${randomBytes(6).toString("hex")} p@ss+w/rd=%`;
let server: ServedHandlers;
let ayyeka: AyyekaSandbox;
let nowMs = Date.now();

before(async () => {
  const tls = await ensureDevTls();
  ayyeka = new AyyekaSandbox({ clientSecret: SECRET, now: () => nowMs });
  server = await serveHandlers([ayyeka.handler], { tls });
});

after(() => server.close());

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
/** application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 asks before the Basic encoding. */
const form = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");

function tokenRequest(authorization: string | undefined, body = "grant_type=client_credentials", contentType = "application/x-www-form-urlencoded"): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": contentType, "Cache-Control": "no-cache" };
  if (authorization !== undefined) headers.Authorization = authorization;
  return fetch(`${server.url}/ayyeka/auth/token`, { method: "POST", headers, body });
}

async function accessToken(): Promise<string> {
  const response = await tokenRequest(basic(AYYEKA.clientKey, SECRET));
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function site(authorization?: string): Promise<Response> {
  return fetch(`${server.url}/ayyeka/v2.0/site`, { headers: authorization ? { Authorization: authorization } : {} });
}

describe("Ayyeka sandbox", () => {
  it("issues an RS384 JWT with token_type JWT and expires_in 3600, not cacheable, that the site API accepts", async () => {
    const before = ayyeka.tokenRequests;
    const response = await tokenRequest(basic(AYYEKA.clientKey, SECRET));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "no-store");
    const body = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"]);
    assert.equal(body.token_type, "JWT");
    assert.equal(body.expires_in, 3600);
    const jwt = String(body.access_token);
    assert.equal(decodeProtectedHeader(jwt).alg, "RS384");
    const claims = decodeJwt(jwt);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 3600);
    assert.equal(ayyeka.tokenRequests, before + 1);

    const ok = await site(`Bearer ${jwt}`);
    assert.equal(ok.status, 200);
    assert.ok(((await ok.json()) as { items: unknown[] }).items.length > 0);
  });

  it("accepts the RFC 6749 form-encoded variant of the Basic credentials too", async () => {
    assert.notEqual(form(SECRET), SECRET);
    const response = await tokenRequest(basic(form(AYYEKA.clientKey), form(SECRET)));
    assert.equal(response.status, 200);
  });

  it("answers 401 invalid_client to a wrong secret, an unknown key, no Authorization, or credentials in the body, without echoing them", async () => {
    const wrong = `CANARY-wrong-${randomBytes(6).toString("hex")}`;
    const attempts = [
      tokenRequest(basic(AYYEKA.clientKey, wrong)),
      tokenRequest(basic("someone-else", SECRET)),
      tokenRequest(undefined),
      tokenRequest(undefined, new URLSearchParams({ grant_type: "client_credentials", client_id: AYYEKA.clientKey, client_secret: SECRET }).toString()),
      tokenRequest(`Bearer ${wrong}`),
    ];
    for (const response of await Promise.all(attempts)) {
      assert.equal(response.status, 401);
      const text = await response.text();
      assert.deepEqual(JSON.parse(text), { error: "invalid_client" });
      assert.ok(!text.includes(wrong) && !text.includes("CANARY"));
    }
  });

  it("answers 400 to another grant type, a missing grant type or a body that is not form-encoded", async () => {
    const auth = basic(AYYEKA.clientKey, SECRET);
    const password = await tokenRequest(auth, "grant_type=password&username=u&password=p");
    assert.equal(password.status, 400);
    assert.equal(((await password.json()) as { error: string }).error, "unsupported_grant_type");
    const missing = await tokenRequest(auth, "");
    assert.equal(((await missing.json()) as { error: string }).error, "invalid_request");
    const json = await tokenRequest(auth, JSON.stringify({ grant_type: "client_credentials" }), "application/json");
    assert.equal(json.status, 400);
    // The seed's own sample writes "grant_type= client_credentials".
    assert.equal((await tokenRequest(auth, "grant_type= client_credentials")).status, 200);
  });

  it("refuses the site API without a bearer, with the token under another scheme, or with a forged token", async () => {
    const jwt = await accessToken();
    const [header, payload] = jwt.split(".");
    for (const authorization of [undefined, jwt, `JWT ${jwt}`, `Bearer ${header}.${payload}.`, `Bearer ${header}.${payload}.AAAA`]) {
      const response = await site(authorization);
      assert.equal(response.status, 401, String(authorization).slice(0, 12));
    }
  });

  it("refuses an expired token and every token revoked by the partner", async () => {
    const jwt = await accessToken();
    nowMs += 3601_000;
    try {
      assert.equal((await site(`Bearer ${jwt}`)).status, 401);
    } finally {
      nowMs -= 3601_000;
    }
    assert.equal((await site(`Bearer ${jwt}`)).status, 200);
    ayyeka.revokeTokens();
    assert.equal((await site(`Bearer ${jwt}`)).status, 401);
    assert.equal((await site(`Bearer ${await accessToken()}`)).status, 200);
  });

  it("stops accepting the old client secret once the customer generates a new one", async () => {
    const next = `CANARY-next-${randomBytes(6).toString("hex")}`;
    ayyeka.setClientSecret(next);
    try {
      assert.equal((await tokenRequest(basic(AYYEKA.clientKey, SECRET))).status, 401);
      assert.equal((await tokenRequest(basic(AYYEKA.clientKey, next))).status, 200);
    } finally {
      ayyeka.setClientSecret(SECRET);
    }
  });

  it("plays queued token faults in order: 503, 429 with Retry-After, garbage, a delay, a dropped connection", async () => {
    const auth = basic(AYYEKA.clientKey, SECRET);
    const before = ayyeka.tokenRequests;
    ayyeka.faults.push({ status: 503 }, { status: 429, retryAfterSec: 2 }, { garbage: true }, { delayMs: 60 }, { destroy: true });
    assert.equal((await tokenRequest(auth)).status, 503);
    const limited = await tokenRequest(auth);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "2");
    const garbage = await tokenRequest(auth);
    assert.equal(garbage.status, 200);
    await assert.rejects(garbage.json());
    // Ordered, not timed: the sandbox runs on this event loop, and a 50 ms timer armed before the
    // request expires before the sandbox's 60 ms delay, armed later.
    let armedEarlierFired = false;
    const armedEarlier = setTimeout(() => {
      armedEarlierFired = true;
    }, 50);
    assert.equal((await tokenRequest(auth)).status, 200);
    clearTimeout(armedEarlier);
    assert.ok(armedEarlierFired, "the delayed answer came too early");
    await assert.rejects(tokenRequest(auth));
    assert.equal((await tokenRequest(auth)).status, 200);
    assert.equal(ayyeka.tokenRequests, before + 6);
  });
});
