import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { SignJWT, generateKeyPair } from "jose";
import { LocalCallerIssuer, DEMO_AUDIENCE, DEMO_ISSUER } from "../../dev/caller-issuer.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secretCanaries } from "../support/canaries.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";

/**
 * End to end through the local Functions host: the real function files, composition root, secret
 * store, SDKs and the sandbox partners, which check every header they require.
 */
let demo: DemoBroker;
const issued: string[] = [];

// Copies of the Ayyeka provider, one per failure scenario, so one scenario's breaker or cache
// cannot affect another's.
const SCENARIOS = ["ayyeka-down", "ayyeka-slow", "ayyeka-throttled", "ayyeka-garbage", "ayyeka-rejected", "ayyeka-stale"];

before(async () => {
  demo = await startDemoBroker({
    edit: (raw) => {
      for (const name of SCENARIOS) {
        raw.providers[name] = {
          ...raw.providers.ayyeka,
          upstream: { timeoutMs: 400, maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20, maxRetryAfterSec: 1 },
        };
        raw.callers["orders-service"].providers.push(name);
      }
      // Refresh almost at once so a background refresh can be failed on purpose.
      raw.providers["ayyeka-stale"].cache = { refreshAheadFraction: 0.0005, refreshFloorSec: 0, jitterSec: 0 };
    },
  });
});

after(async () => {
  await demo?.close();
});

async function json(res: Response): Promise<any> {
  const body = (await res.json()) as any;
  if (typeof body.access_token === "string") issued.push(body.access_token);
  return body;
}

const GRANTS: Record<string, string[]> = {
  "orders-service": ["flowe", "flowe-servicebus", "kalibrate", "kalibrate-federated", "ayyeka"],
  "payments-service": ["silverflow", "silverflow-bearer", "phixflow"],
};

describe("GET /api/token/{provider}", () => {
  for (const [caller, providers] of Object.entries(GRANTS)) {
    for (const provider of providers) {
      test(`serves ${provider} to ${caller} with headers the partner accepts`, async () => {
        const res = await demo.call(`/api/token/${provider}`, { caller });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("cache-control"), "no-store");
        const body = await json(res);
        assert.equal(body.provider, provider);
        assert.ok(body.expires_in > 30, `expires_in ${body.expires_in}`);
        assert.ok(Math.abs(Date.parse(body.expires_at) - Date.now() - body.expires_in * 1000) < 5000);
        assert.ok(body.headers.Authorization, "Authorization header present");
        // The partner's own check: its probe endpoint answers 200 only to a complete, valid header set.
        const probeUrl = demo.env.config.providers[provider]!.probe!.url;
        const probe = await fetch(probeUrl, { headers: body.headers });
        assert.equal(probe.status, 200, `${provider} partner rejected the headers: ${await probe.text()}`);
      });
    }
  }

  test("Flowe gets AuthKey and Partner next to the bearer; Kalibrate gets its User-Agent", async () => {
    const flowe = await json(await demo.call("/api/token/flowe", { caller: "orders-service" }));
    assert.deepEqual(Object.keys(flowe.headers).sort(), ["AuthKey", "Authorization", "Partner"]);
    assert.equal(flowe.headers.Partner, "acme-payments");
    assert.match(flowe.headers.Authorization, /^Bearer ey/);
    const kalibrate = await json(await demo.call("/api/token/kalibrate", { caller: "orders-service" }));
    assert.equal(kalibrate.headers["User-Agent"], "API-CLIENT");
  });

  test("Ayyeka's token_type JWT is served as Bearer", async () => {
    const body = await json(await demo.call("/api/token/ayyeka", { caller: "orders-service" }));
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.headers.Authorization, `Bearer ${body.access_token}`);
  });

  test("repeated requests are served from the cache without another partner request", async () => {
    await demo.call("/api/token/ayyeka", { caller: "orders-service" });
    const before = demo.env.sandbox.ayyeka.tokenRequests;
    for (let i = 0; i < 20; i++) assert.equal((await demo.call("/api/token/ayyeka", { caller: "orders-service" })).status, 200);
    assert.equal(demo.env.sandbox.ayyeka.tokenRequests, before);
  });
});

describe("caller errors are clear 4xx problems, never 500", () => {
  async function expectProblem(res: Response, status: number, code: string) {
    assert.equal(res.status, status);
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
    const body = (await res.json()) as { code: string; status: number; detail: string };
    assert.equal(body.code, code);
    assert.equal(body.status, status);
    assert.equal(typeof body.detail, "string");
    if (status === 401) assert.match(res.headers.get("www-authenticate") ?? "", /Bearer .*error="invalid_token"/);
    return body;
  }

  test("no caller token -> 401", async () => {
    await expectProblem(await demo.call("/api/token/flowe"), 401, "caller_unauthenticated");
  });

  test("expired, foreign-issuer, foreign-key, wrong-audience, alg:none and HS256 tokens -> 401", async () => {
    const issuer = demo.env.issuer;
    const foreign = await LocalCallerIssuer.load(mkdtempSync(join(tmpdir(), "foreign-issuer-")));
    const { privateKey } = await generateKeyPair("RS256");
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const claims = { iss: DEMO_ISSUER, aud: DEMO_AUDIENCE, azp: "orders-service", sub: "orders-service", exp: now + 600, iat: now };
    const bad: Record<string, string> = {
      expired: await issuer.mint("orders-service", { now: Date.now() - 7_200_000, ttlSec: 3600 }),
      "foreign issuer": await issuer.mint("orders-service", { issuer: "https://evil.example/issuer" }),
      "foreign key, same issuer": await foreign.mint("orders-service"),
      "wrong audience": await issuer.mint("orders-service", { audience: "api://someone-else" }),
      "alg none": `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`,
      HS256: await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode("x".repeat(32))),
      "unknown kid": await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "nope" }).sign(privateKey),
      garbage: "not-a-jwt",
    };
    for (const [label, token] of Object.entries(bad)) {
      const body = await expectProblem(await demo.call("/api/token/flowe", { authorization: `Bearer ${token}` }), 401, "caller_unauthenticated");
      assert.ok(!body.detail.includes(token), `${label}: token echoed`);
    }
    await expectProblem(await demo.call("/api/token/flowe", { authorization: "Basic Zm9vOmJhcg==" }), 401, "caller_unauthenticated");
  });

  test("a provider the caller is not granted -> 403; an operator has no token grants", async () => {
    await expectProblem(await demo.call("/api/token/silverflow", { caller: "orders-service" }), 403, "caller_forbidden");
    await expectProblem(await demo.call("/api/token/flowe", { caller: "ops-console" }), 403, "caller_forbidden");
    await expectProblem(await demo.call("/api/token/flowe", { caller: "unknown-service" }), 403, "caller_forbidden");
  });

  test("an unknown provider -> 404, a malformed min_ttl -> 400", async () => {
    await expectProblem(await demo.call("/api/token/no-such-provider", { caller: "orders-service" }), 404, "provider_not_found");
    await expectProblem(await demo.call("/api/token/%2e%2e%2fadmin", { caller: "orders-service" }), 404, "provider_not_found");
    for (const v of ["abc", "-5", "1.5", "99999999"]) {
      await expectProblem(await demo.call(`/api/token/flowe?min_ttl=${v}`, { caller: "orders-service" }), 400, "bad_request");
    }
  });

  test("min_ttl beyond what the partner issues -> 400, within it -> 200", async () => {
    assert.equal((await demo.call("/api/token/kalibrate?min_ttl=600", { caller: "orders-service" })).status, 200);
    await expectProblem(await demo.call("/api/token/kalibrate?min_ttl=7200", { caller: "orders-service" }), 400, "bad_request");
  });

  test("wrong methods and unknown routes are 4xx", async () => {
    assert.equal((await demo.call("/api/token/flowe", { caller: "orders-service", method: "POST" })).status, 405);
    assert.equal((await demo.call("/api/nothing-here")).status, 404);
  });
});

describe("partner failures map to 502/503 and a valid cached token keeps being served", () => {
  const ayyeka = () => demo.env.sandbox.ayyeka;

  test("partner down -> 503 with Retry-After", async () => {
    ayyeka().faults.push({ destroy: true }, { destroy: true });
    const res = await demo.call("/api/token/ayyeka-down", { caller: "orders-service" });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as any).code, "upstream_unavailable");
    assert.match(res.headers.get("retry-after") ?? "", /^\d+$/);
  });

  test("partner too slow -> 503 after the configured timeout", async () => {
    ayyeka().faults.push({ delayMs: 1500 }, { delayMs: 1500 });
    const started = Date.now();
    const res = await demo.call("/api/token/ayyeka-slow", { caller: "orders-service" });
    assert.equal(res.status, 503);
    assert.ok(Date.now() - started < 1400, "did not wait for the slow partner");
  });

  test("429 with a Retry-After beyond the cap -> 503 carrying the partner's Retry-After", async () => {
    ayyeka().faults.push({ status: 429, retryAfterSec: 30 });
    const res = await demo.call("/api/token/ayyeka-throttled", { caller: "orders-service" });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "30");
  });

  test("garbage JSON -> 502 upstream_rejected", async () => {
    ayyeka().faults.push({ garbage: true });
    const res = await demo.call("/api/token/ayyeka-garbage", { caller: "orders-service" });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as any).code, "upstream_rejected");
  });

  test("invalid_client -> 502 after exactly one partner request", async () => {
    const sandbox = ayyeka();
    const good = demo.env.sandbox.secrets["ayyeka-client-secret"];
    sandbox.setClientSecret("rotated-elsewhere-" + Date.now());
    try {
      const before = sandbox.tokenRequests;
      const res = await demo.call("/api/token/ayyeka-rejected", { caller: "orders-service" });
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as any).code, "upstream_rejected");
      assert.equal(sandbox.tokenRequests - before, 1, "credential rejections are not retried");
    } finally {
      sandbox.setClientSecret(good);
    }
  });

  test("while refreshes fail, the still-valid cached token is served", async () => {
    const first = await json(await demo.call("/api/token/ayyeka-stale", { caller: "orders-service" }));
    for (let i = 0; i < 10; i++) ayyeka().faults.push({ status: 503 });
    await new Promise((r) => setTimeout(r, 2500)); // past refreshAt (0.05% of 3600 s = 1.8 s)
    for (let i = 0; i < 3; i++) {
      const res = await demo.call("/api/token/ayyeka-stale", { caller: "orders-service" });
      assert.equal(res.status, 200);
      assert.equal((await json(res)).access_token, first.access_token);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(demo.broker.lines.some((l) => l.includes('"token_refresh_failed"') && l.includes("ayyeka-stale")));
    ayyeka().faults.length = 0;
  });
});

describe("secrets never leak", () => {
  test("no partner secret, issued token or caller JWT appears in any broker log line", async () => {
    // A graceful stop writes the audit lines still batched and the pending audit summaries:
    // every issued token is accounted for, on its own line or in a summary's count.
    await demo.broker.stop();
    const canaries = [...secretCanaries(Object.values(demo.env.sandbox.secrets)), ...issued];
    assert.ok(canaries.length > 10);
    const audited = demo.broker.lines
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .reduce((n, r) => n + (r.event === "token_issued" ? 1 : r.event === "token_issued_summary" ? r.count : 0), 0);
    assert.ok(audited >= issued.length, `${audited} issuances audited for ${issued.length} tokens served`);
    const log = demo.broker.lines.join("\n");
    for (const canary of canaries) assert.ok(!log.includes(canary), "a secret or token value reached the log");
    assert.ok(log.includes('"event":"token_issued"'), "audit lines present");
    assert.match(log, /"fingerprint":"sha256:[0-9a-f]{12}"/);
  });
});
