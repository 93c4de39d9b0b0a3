import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { OAuth2ProviderSchema, type OAuth2ProviderConfig } from "../../../shared/config/oauth2-schema.js";
import type { UpstreamPolicy } from "../../../shared/config/provider-base-schema.js";
import type { FetchLike } from "../../../shared/http/fetch-like.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { basicClientAuth, formUrlEncode } from "../../../shared/providers/oauth2-client-auth.js";
import { OAuth2Source } from "../../../shared/providers/oauth2-source.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { TokenEndpointServer } from "../../fakes/token-endpoint-server.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { rejectsWith } from "../../support/assertions.js";
import { waitUntil } from "../../support/wait-until.js";
import { ManualClock } from "../../support/manual-clock.js";


const POLICY: Partial<UpstreamPolicy> = { timeoutMs: 2000, maxAttempts: 3, baseDelayMs: 200, maxRetryAfterSec: 10, breakerFailures: 5 };

interface Options {
  config?: Record<string, unknown>;
  upstream?: Partial<UpstreamPolicy>;
  clientSecret?: string;
}

async function harness(t: TestContext, options: Options = {}) {
  const server = await TokenEndpointServer.start();
  t.after(() => server.close());
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const secrets = new MemorySecretStore(clock);
  await secrets.set("ayyeka-secret", options.clientSecret ?? "s3cret");
  const config: OAuth2ProviderConfig = OAuth2ProviderSchema.parse({
    kind: "oauth2",
    tokenUrl: server.url("/auth/token"),
    clientId: "ayyeka-key",
    clientSecret: { secret: "ayyeka-secret" },
    upstream: { ...POLICY, ...options.upstream },
    ...options.config,
  });
  const caller = new UpstreamCaller("ayyeka", config.upstream, { clock, sleeper: clock, random: () => 0, logger });
  let fetches = 0;
  const fetch: FetchLike = (input, init) => {
    fetches++;
    return globalThis.fetch(input, init);
  };
  const source = new OAuth2Source({ name: "ayyeka", config, secrets, fetch, clock, caller });
  const issue = async () => (await source.prepare()).issue({ force: false });
  return { server, clock, logger, secrets, config, caller, source, issue, fetches: () => fetches };
}

function jwt(payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "RS384", typ: "JWT" })}.${part(payload)}.c2ln`;
}


describe("OAuth2Source", () => {
  it("authenticates with client_secret_basic, form-encoding id and secret first (RFC 6749 §2.3.1)", async (t) => {
    const h = await harness(t, { config: { clientId: "client id:1" }, clientSecret: "p@ss w+rd/=%" });
    await h.issue();
    const [request] = h.server.requests;
    assert.ok(request);
    const expected = "Basic " + Buffer.from("client+id%3A1:p%40ss+w%2Brd%2F%3D%25").toString("base64");
    assert.equal(request.headers.authorization, expected);
    assert.equal(expected, "Basic Y2xpZW50K2lkJTNBMTpwJTQwc3MrdyUyQnJkJTJGJTNEJTI1");
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/auth/token");
    assert.equal(request.headers["content-type"], "application/x-www-form-urlencoded");
    assert.equal(request.headers.accept, "application/json");
    assert.equal(request.body, "grant_type=client_credentials");
  });

  it("form-encodes exactly the characters outside [A-Za-z0-9*-._]", () => {
    const all = "AZaz09*-._ !\"#$%&'()+,/:;<=>?@[\\]^`{|}~é€";
    assert.equal(formUrlEncode(all), new URLSearchParams({ x: all }).toString().slice(2));
    assert.equal(formUrlEncode("a b*c-d.e_f~g!h'i(j)"), "a+b*c-d.e_f%7Eg%21h%27i%28j%29");
    assert.equal(basicClientAuth("key", "secret"), "Basic " + Buffer.from("key:secret").toString("base64"));
  });

  it("sends id and secret in the body with client_secret_post", async (t) => {
    const h = await harness(t, { config: { clientAuth: "client_secret_post", clientId: "id 1" }, clientSecret: "p@ss+" });
    await h.issue();
    const [request] = h.server.requests;
    assert.ok(request);
    assert.equal(request.headers.authorization, undefined);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(request.body)), {
      grant_type: "client_credentials",
      client_id: "id 1",
      client_secret: "p@ss+",
    });
  });

  it("sends the scope and extra params, which cannot override the grant or the client", async (t) => {
    const h = await harness(t, {
      config: {
        scope: "read write",
        params: { audience: "https://api.example", grant_type: "password", client_id: "evil", resource: "r1" },
      },
    });
    await h.issue();
    assert.deepEqual(Object.fromEntries(new URLSearchParams(h.server.requests[0]!.body)), {
      grant_type: "client_credentials",
      scope: "read write",
      audience: "https://api.example",
      resource: "r1",
    });
  });

  it('serves a "JWT" token type as Bearer with the complete header set', async (t) => {
    const h = await harness(t, {
      config: { headers: { "Cache-Control": "no-cache", "X-Site": { secret: "site-key" } } },
    });
    await h.secrets.set("site-key", "site-123");
    h.server.enqueue({ body: { access_token: "tok-1", token_type: "JWT", expires_in: 3600 } });
    const credential = await h.issue();
    assert.deepEqual(credential, {
      tokenType: "Bearer",
      accessToken: "tok-1",
      headers: { "Cache-Control": "no-cache", "X-Site": "site-123", Authorization: "Bearer tok-1" },
      expiresAt: h.clock.now() + 3_600_000,
      issuedAt: h.clock.now(),
      fingerprint: fingerprint("tok-1"),
    });
  });

  it("normalises bearer in any case, keeps other types, and lets configuration override", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ body: { access_token: "a", token_type: "BEARER" } }, { body: { access_token: "b", token_type: "MAC" } });
    assert.equal((await h.issue()).headers.Authorization, "Bearer a");
    assert.equal((await h.issue()).headers.Authorization, "MAC b");

    const o = await harness(t, { config: { tokenType: "Token" } });
    o.server.enqueue({ body: { access_token: "c", token_type: "JWT" } });
    const credential = await o.issue();
    assert.equal(credential.tokenType, "Token");
    assert.equal(credential.headers.Authorization, "Token c");
  });

  it("reads expires_in given as a string", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ body: { access_token: "t", expires_in: "1799" } });
    assert.equal((await h.issue()).expiresAt, h.clock.now() + 1_799_000);
  });

  it("falls back to the JWT exp, then to the default lifetime, and caps at maxTtlSec", async (t) => {
    const h = await harness(t, { config: { cache: { defaultTtlSec: 600, maxTtlSec: 7200 } } });
    const now = h.clock.now();
    h.server.enqueue(
      { body: { access_token: jwt({ exp: now / 1000 + 1200 }) } },
      { body: { access_token: "opaque" } },
      { body: { access_token: "t", expires_in: 86_400 } },
    );
    assert.equal((await h.issue()).expiresAt, now + 1_200_000);
    assert.equal((await h.issue()).expiresAt, now + 600_000);
    assert.equal((await h.issue()).expiresAt, now + 7_200_000);
  });

  it("succeeds after a 503 is retried", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ status: 503, body: "busy" });
    const credential = await h.issue();
    assert.equal(credential.accessToken, "fake-access-token");
    assert.equal(h.server.requests.length, 2);
  });

  it("recovers when the connection drops", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ destroy: true });
    assert.equal((await h.issue()).accessToken, "fake-access-token");
    assert.equal(h.server.requests.length, 2);
  });

  it("honours Retry-After on a 429", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ status: 429, headers: { "Retry-After": "2" }, body: { error: "slow_down" } });
    await h.issue();
    assert.deepEqual(h.clock.sleeps, [2000]);
    assert.equal(h.server.requests.length, 2);
  });

  it("fails fast with upstream_unavailable when Retry-After exceeds the cap", async (t) => {
    const h = await harness(t, { upstream: { maxRetryAfterSec: 10 } });
    h.server.enqueue({ status: 503, headers: { "Retry-After": "120" } });
    const error = await rejectsWith(h.issue(), "upstream_unavailable");
    assert.equal(error.retryAfterSec, 120);
    assert.equal(h.server.requests.length, 1);
    assert.deepEqual(h.clock.sleeps, []);
  });

  it("reports invalid_client as upstream_rejected after one request", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ status: 401, body: { error: "invalid_client", error_description: "Client authentication failed" } });
    const error = await rejectsWith(h.issue(), "upstream_rejected");
    assert.equal(h.server.requests.length, 1);
    assert.match(error.detail, /HTTP 401 \(invalid_client\)/);
    assert.doesNotMatch(error.detail, /authentication failed/);
  });

  it("reports 400 invalid_scope as upstream_rejected without retrying", async (t) => {
    const h = await harness(t);
    h.server.enqueue({ status: 400, body: { error: "invalid_scope" } });
    const error = await rejectsWith(h.issue(), "upstream_rejected");
    assert.match(error.detail, /invalid_scope/);
    assert.equal(h.fetches(), 1);
  });

  it("reports an unusable 2xx answer as upstream_rejected without retrying", async (t) => {
    const h = await harness(t);
    h.server.enqueue(
      { body: "<html>not json</html>" },
      { body: { token_type: "Bearer", expires_in: 3600 } },
      { body: { access_token: "" } },
      { body: { access_token: "line\r\nX-Injected: 1" } },
    );
    for (let i = 0; i < 4; i++) await rejectsWith(h.issue(), "upstream_rejected");
    assert.equal(h.server.requests.length, 4);
  });

  it("reports a timeout as upstream_unavailable", async (t) => {
    const h = await harness(t, { upstream: { timeoutMs: 100, maxAttempts: 1 } });
    h.server.enqueue({ delayMs: 60_000 });
    const running = rejectsWith(h.issue(), "upstream_unavailable");
    await waitUntil(() => h.server.requests.length === 1, "the request arrives");
    h.clock.advance(100);
    const error = await running;
    assert.match(error.detail, /timed out/);
  });

  it("opens the breaker after failed fetches, fails fast, then half-opens", async (t) => {
    const h = await harness(t, { upstream: { maxAttempts: 1, breakerFailures: 2, breakerOpenSec: 30 } });
    h.server.enqueue({ status: 502 }, { status: 502 });
    await rejectsWith(h.issue(), "upstream_unavailable");
    await rejectsWith(h.issue(), "upstream_unavailable");
    const fast = await rejectsWith(h.issue(), "upstream_unavailable");
    assert.equal(fast.retryAfterSec, 30);
    assert.equal(h.server.requests.length, 2, "an open breaker must not reach the partner");
    h.clock.advance(30_000);
    assert.equal((await h.issue()).accessToken, "fake-access-token");
    assert.equal(h.server.requests.length, 3);
    assert.equal(h.caller.breaker.state, "closed");
  });

  it("gives a new cacheKey and a new header when the secret gets a new version", async (t) => {
    const h = await harness(t, { config: { headers: { AuthKey: { secret: "auth-key" } } } });
    await h.secrets.set("auth-key", "key-one");
    const first = await h.source.prepare();
    const again = await h.source.prepare();
    assert.equal(first.cacheKey, again.cacheKey, "the key is stable while nothing changes");
    assert.match(first.cacheKey, /^ayyeka:[0-9a-f]{16}$/);
    assert.equal((await first.issue({ force: false })).headers.AuthKey, "key-one");

    await h.secrets.set("auth-key", "key-two");
    const second = await h.source.prepare();
    assert.notEqual(second.cacheKey, first.cacheKey);
    assert.equal((await second.issue({ force: false })).headers.AuthKey, "key-two");

    await h.secrets.set("ayyeka-secret", "rotated");
    const third = await h.source.prepare();
    assert.notEqual(third.cacheKey, second.cacheKey);
    const sent = h.server.requests.at(-1);
    await third.issue({ force: true });
    assert.notEqual(h.server.requests.at(-1)?.headers.authorization, sent?.headers.authorization);
  });

  it("changes the cacheKey with the scope but not across instances with the same configuration", async (t) => {
    const a = await harness(t, { config: { scope: "a" } });
    const b = await harness(t, { config: { scope: "b" } });
    const keyA = (await a.source.prepare()).cacheKey;
    const keyB = (await b.source.prepare()).cacheKey;
    assert.notEqual(keyA, keyB);
    const twin = new OAuth2Source({ name: "ayyeka", config: a.config, secrets: a.secrets, fetch, clock: a.clock, caller: a.caller });
    assert.equal((await twin.prepare()).cacheKey, keyA);
  });

  it("reads the client id from a secret reference", async (t) => {
    const h = await harness(t, { config: { clientId: { secret: "ayyeka-id" } } });
    await h.secrets.set("ayyeka-id", "id-from-vault");
    await h.issue();
    assert.equal(h.server.requests[0]?.headers.authorization, basicClientAuth("id-from-vault", "s3cret"));
  });

  it("reports a missing secret as secret_unavailable without calling the partner", async (t) => {
    const h = await harness(t, { config: { clientSecret: { secret: "missing" } } });
    await rejectsWith(h.source.prepare(), "secret_unavailable");
    assert.equal(h.server.requests.length, 0);
  });

  it("never puts the client secret or partner error text in logs or errors", async (t) => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
    const h = await harness(t, { clientSecret: canary, config: { clientAuth: "client_secret_post" } });
    h.server.enqueue(
      { status: 500, body: { error: "server_error", error_description: `bad secret ${canary}` } },
      { status: 401, body: { error: "invalid_client", error_description: `client_secret=${canary} is wrong` } },
      { body: `{"oops": "${canary}"` },
    );
    const errors = [await rejectsWith(h.issue(), "upstream_rejected"), await rejectsWith(h.issue(), "upstream_rejected")];
    assert.ok(h.server.requests.some((r) => r.body.includes(canary)), "the canary did reach the partner");
    const texts = [...h.logger.lines, ...errors.flatMap(describeError)];
    for (const text of texts) assert.ok(!text.includes(canary), `leaked: ${text}`);
  });
});

/** Every text an error could show: message, detail, and its cause chain's messages and JSON. */
function describeError(error: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) out.push(e.message, String(e), JSON.stringify(e), e.stack ?? "");
  return out;
}
