import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import { HttpTokenProviderSchema } from "../../../shared/config/http-token-schema.js";
import type { UpstreamPolicy } from "../../../shared/config/provider-base-schema.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { ApiKeySource } from "../../../shared/providers/api-key-source.js";
import { HttpTokenSource } from "../../../shared/providers/http-token-source.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { TokenEndpointServer } from "../../fakes/token-endpoint-server.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { rejectsWith } from "../../support/assertions.js";
import { ManualClock } from "../../support/manual-clock.js";


interface Options {
  config?: Record<string, unknown>;
  upstream?: Partial<UpstreamPolicy>;
  apiSecret?: string;
}

async function harness(t: TestContext, options: Options = {}) {
  const server = await TokenEndpointServer.start({ body: { token: "minted-token", expiresIn: 1800 } });
  t.after(() => server.close());
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const secrets = new MemorySecretStore();
  await secrets.set("silverflow-key", JSON.stringify({ id: "apk-1", secret: options.apiSecret ?? "sec-1" }));
  const authConfig = ApiKeyProviderSchema.parse({ kind: "api-key", key: { secret: "silverflow-key" }, scheme: "basic" });
  const auth = new ApiKeySource({ name: "silverflow", config: authConfig, secrets, clock });
  const config = HttpTokenProviderSchema.parse({
    kind: "http-token",
    url: server.url("/silverflow/agent-bearer-tokens"),
    authProvider: "silverflow",
    body: { permissions: ["charges:List"], ipRestrictions: ["185.184.111.39/32"] },
    response: { tokenField: "token", expiresInField: "expiresIn" },
    upstream: { timeoutMs: 2000, maxAttempts: 3, maxRetryAfterSec: 10, breakerFailures: 5, ...options.upstream },
    ...options.config,
  });
  const caller = new UpstreamCaller("silverflow-bearer", config.upstream, { clock, sleeper: clock, random: () => 0, logger });
  const source = new HttpTokenSource({ name: "silverflow-bearer", config, secrets, fetch, clock, caller, auth });
  const issue = async () => (await source.prepare()).issue({ force: false });
  return { server, clock, logger, secrets, source, issue };
}

function basic(id: string, secret: string): string {
  return "Basic " + Buffer.from(`${id}:${secret}`).toString("base64");
}

function jwt(payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "ES256" })}.${part(payload)}.c2ln`;
}


describe("HttpTokenSource", () => {
  it("mints a token with the API key as Basic and serves it as Bearer", async (t) => {
    const h = await harness(t, { config: { headers: { "X-Partner": "acme" } } });
    const credential = await h.issue();
    const [request] = h.server.requests;
    assert.ok(request);
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/silverflow/agent-bearer-tokens");
    assert.equal(request.headers.authorization, basic("apk-1", "sec-1"));
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers.accept, "application/json");
    assert.equal(request.headers["x-partner"], undefined, "the served headers are not sent to the minting endpoint");
    assert.deepEqual(JSON.parse(request.body), { permissions: ["charges:List"], ipRestrictions: ["185.184.111.39/32"] });
    assert.deepEqual(credential, {
      tokenType: "Bearer",
      accessToken: "minted-token",
      headers: { "X-Partner": "acme", Authorization: "Bearer minted-token" },
      expiresAt: h.clock.now() + 1_800_000,
      issuedAt: h.clock.now(),
      fingerprint: fingerprint("minted-token"),
    });
  });

  it("reads dotted response fields and an ISO expiry", async (t) => {
    const h = await harness(t, { config: { response: { tokenField: "data.token", expiresAtField: "data.expiresAt" } } });
    const at = new Date(h.clock.now() + 2_700_000).toISOString();
    h.server.enqueue({ status: 201, body: { data: { token: "deep", expiresAt: at } } });
    const credential = await h.issue();
    assert.equal(credential.accessToken, "deep");
    assert.equal(credential.expiresAt, h.clock.now() + 2_700_000);
  });

  it("reads an epoch-seconds expiry field", async (t) => {
    const h = await harness(t, { config: { response: { tokenField: "token", expiresAtField: "exp" } } });
    h.server.enqueue({ body: { token: "t", exp: h.clock.now() / 1000 + 600 } });
    assert.equal((await h.issue()).expiresAt, h.clock.now() + 600_000);
  });

  it("falls back to the JWT exp, then the default lifetime", async (t) => {
    const h = await harness(t, { config: { response: { tokenField: "token" }, cache: { defaultTtlSec: 300 } } });
    const now = h.clock.now();
    h.server.enqueue({ body: { token: jwt({ exp: now / 1000 + 1000 }) } }, { body: { token: "opaque", expiresIn: "never" } });
    assert.equal((await h.issue()).expiresAt, now + 1_000_000);
    assert.equal((await h.issue()).expiresAt, now + 300_000);
  });

  it("sends no body for a GET without one", async (t) => {
    const h = await harness(t, { config: { method: "GET", body: undefined } });
    await h.issue();
    const [request] = h.server.requests;
    assert.equal(request?.method, "GET");
    assert.equal(request?.body, "");
    assert.equal(request?.headers["content-type"], undefined);
  });

  it("folds the auth provider's key into its cacheKey, so a rotated API key mints a new token", async (t) => {
    const h = await harness(t);
    const first = await h.source.prepare();
    assert.equal((await h.source.prepare()).cacheKey, first.cacheKey);
    assert.match(first.cacheKey, /^silverflow-bearer:[0-9a-f]{16}$/);
    await h.secrets.set("silverflow-key", JSON.stringify({ id: "apk-2", secret: "sec-2" }));
    const second = await h.source.prepare();
    assert.notEqual(second.cacheKey, first.cacheKey);
    await second.issue({ force: false });
    assert.equal(h.server.requests.at(-1)?.headers.authorization, basic("apk-2", "sec-2"));
  });

  it("reports 401 and 403 as upstream_rejected after one request each", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ status: 401, body: "Authentication Required" }, { status: 403, body: { message: "needs tokens:Create" } });
    await rejectsWith(h.issue(), "upstream_rejected");
    await rejectsWith(h.issue(), "upstream_rejected");
    assert.equal(h.server.requests.length, 2);
  });

  it("retries a 503 and honours Retry-After on a 429", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ status: 503 }, { status: 429, headers: { "Retry-After": "3" } });
    assert.equal((await h.issue()).accessToken, "minted-token");
    assert.equal(h.server.requests.length, 3);
    assert.equal(h.clock.sleeps.at(-1), 3000);
  });

  it("reports an answer without a usable token as upstream_rejected", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ body: "not json" }, { body: { tokens: "x" } }, { body: { token: 42 } }, { body: { token: "a\nb" } });
    for (let i = 0; i < 4; i++) {
      const error = await rejectsWith(h.issue(), "upstream_rejected");
      if (i === 1) assert.match(error.detail, /no usable token at "token"/);
    }
    assert.equal(h.server.requests.length, 4);
  });

  it("does not call the partner when the API key secret is missing", async (t) => {
    const h = await harness(t);
    const source = new HttpTokenSource({
      name: "orphan",
      config: HttpTokenProviderSchema.parse({ kind: "http-token", url: h.server.url(), authProvider: "silverflow" }),
      secrets: h.secrets,
      fetch,
      clock: h.clock,
      caller: new UpstreamCaller("orphan", HttpTokenProviderSchema.shape.upstream.parse(undefined), {
        clock: h.clock,
        sleeper: h.clock,
        random: () => 0,
        logger: h.logger,
      }),
      auth: new ApiKeySource({
        name: "gone",
        config: ApiKeyProviderSchema.parse({ kind: "api-key", key: { secret: "missing" }, scheme: "basic" }),
        secrets: h.secrets,
        clock: h.clock,
      }),
    });
    await rejectsWith(source.prepare(), "secret_unavailable");
    assert.equal(h.server.requests.length, 0);
  });

  it("never puts the API secret, the minted token or partner error text in logs or errors", async (t) => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
    const h = await harness(t, { apiSecret: canary });
    h.server.enqueue(
      { status: 500, body: `upstream said ${canary}` },
      { status: 401, body: { message: `key secret ${canary} revoked` } },
      { body: { token: `${canary}-token` } },
    );
    const error = await rejectsWith(h.issue(), "upstream_rejected");
    const credential = await h.issue();
    assert.ok(credential.accessToken?.startsWith(canary));
    const texts = [...h.logger.lines, credential.fingerprint];
    for (let e: unknown = error; e instanceof Error; e = e.cause) texts.push(e.message, String(e), JSON.stringify(e), e.stack ?? "");
    for (const text of texts) assert.ok(!text.includes(canary), `leaked: ${text}`);
  });
});
