import { before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { exportJWK, SignJWT, type CryptoKey } from "jose";
import { IssuedAuditTrail } from "../../../shared/broker/audit-trail.js";
import { type IssuedToken, type TokenRequest, TokenService } from "../../../shared/broker/token-service.js";
import { parsed, parseMinTtl } from "../../../shared/http/request-params.js";
import { systemSleeper } from "../../../functions/system.js";
import { CallerPolicy } from "../../../shared/callers/caller-policy.js";
import { CallerVerifier } from "../../../shared/callers/caller-verifier.js";
import { parseConfig } from "../../../shared/config/load.js";
import type { BrokerConfig } from "../../../shared/config/schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { TokenCache } from "../../../shared/tokens/token-cache.js";
import { ScriptedTokenSource } from "../../fakes/scripted-token-source.js";
import type { Telemetry } from "../../../shared/telemetry/telemetry.js";
import { inMemoryTelemetry, type InMemoryTelemetry } from "../../support/in-memory-telemetry.js";
import { ManualClock } from "../../support/manual-clock.js";
import { rsaTestKeyPair } from "../../support/test-keys.js";

const ISSUER = "https://issuer.test";
const JWKS_URI = "https://issuer.test/jwks";

const config: BrokerConfig = parseConfig(
  JSON.stringify({
    providers: {
      ayyeka: { kind: "api-key", scheme: "header", key: { secret: "k1" } },
      phixflow: { kind: "api-key", scheme: "header", key: { secret: "k2" } },
    },
    issuers: { main: { issuer: ISSUER, audience: "api://broker", jwksUri: JWKS_URI } },
    callers: { orders: { issuer: "main", providers: ["ayyeka"] }, ops: { issuer: "main", roles: ["operator"] } },
    defaultMinTtlSec: 30,
  }),
);

let privateKey: CryptoKey;
let jwks: unknown;
let clock: ManualClock;
let logger: MemoryLogger;
let source: ScriptedTokenSource;
let service: TokenService;

async function token(caller: string): Promise<string> {
  const now = Math.floor(clock.now() / 1000);
  return new SignJWT({ azp: caller })
    .setProtectedHeader({ alg: "RS256", kid: "k" })
    .setIssuer(ISSUER)
    .setAudience("api://broker")
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(privateKey);
}

// One caller-token key for the file: each test builds its own verifier, so no test sees another's
// verified tokens or fetched keys.
before(async () => {
  const pair = await rsaTestKeyPair("caller-signing");
  privateKey = pair.privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k", alg: "RS256", use: "sig" }] };
});

beforeEach(() => {
  clock = new ManualClock(Date.now());
  logger = new MemoryLogger();
  source = new ScriptedTokenSource("ayyeka", clock, { tokenPrefix: "CANARY-token" });
  service = newService();
});

/** The service under test, with the fakes of the current test (and a telemetry port when given). */
function newService(telemetry?: Telemetry): TokenService {
  const fetch = async (url: string | URL) =>
    String(url) === JWKS_URI ? new Response(JSON.stringify(jwks), { headers: { "content-type": "application/json" } }) : new Response("", { status: 404 });
  return new TokenService({
    config,
    verifier: new CallerVerifier(config.issuers, { clock, sleeper: systemSleeper, fetch, logger, cacheSize: 100, telemetry }),
    policy: new CallerPolicy(config.callers),
    cache: new TokenCache({ clock, random: () => 0.5, logger, telemetry }),
    sources: new Map([
      ["ayyeka", source],
      ["phixflow", new ScriptedTokenSource("phixflow", clock)],
    ]),
    clock,
    logger,
    audit: new IssuedAuditTrail({ logger, clock, sleeper: clock, config: { mode: "per-hit", summaryIntervalSec: 60, maxTrackedPairs: 100 } }),
    telemetry,
  });
}

/** A request as functions/token.ts builds it from the URL (min_ttl as received, null when absent). */
const request = (authorization: string | null, provider: string, minTtl: string | null = null): TokenRequest => ({
  authorization,
  provider,
  minTtlSec: parsed(() => parseMinTtl(minTtl, config.defaultMinTtlSec)),
});

/** A denial is always a rejected promise, never a synchronous throw. */
const rejectsWith = (result: Promise<IssuedToken>, code: string) => {
  assert.ok(result instanceof Promise, "a denial is a promise");
  return assert.rejects(result, (e: unknown) => e instanceof BrokerError && e.code === code);
};

describe("TokenService", () => {
  it("serves the credential and leaves one audit line with a fingerprint, never the token", async () => {
    const issued = await service.issue(request(`Bearer ${await token("orders")}`, "ayyeka"));
    assert.equal(issued.credential.accessToken, "CANARY-token-1");
    assert.equal(issued.expiresInSec, 3600);
    const [audit] = logger.events("token_issued");
    assert.deepEqual(
      { caller: audit?.caller, provider: audit?.provider, cache: audit?.cache, expires_at: audit?.expires_at },
      { caller: "orders", provider: "ayyeka", cache: "miss", expires_at: new Date(clock.now() + 3_600_000).toISOString() },
    );
    assert.match(String(audit?.fingerprint), /^sha256:/);
    assert.ok(!logger.lines.join("\n").includes("CANARY"), "token value in a log line");
  });

  it("checks in order: authentication (401), parameters (400), provider (404), grant (403)", async () => {
    const good = `Bearer ${await token("orders")}`;
    await rejectsWith(service.issue(request(null, "nope", "bad")), "caller_unauthenticated");
    await rejectsWith(service.issue(request(good, "nope", "bad")), "bad_request");
    await rejectsWith(service.issue(request(good, "nope")), "provider_not_found");
    await rejectsWith(service.issue(request(good, "phixflow")), "caller_forbidden");
    await rejectsWith(service.issue(request(`Bearer ${await token("ops")}`, "ayyeka")), "caller_forbidden");
    assert.equal(source.issueCalls.length, 0, "no partner call for a denied request");
    const denials = logger.events("token_denied").map((f) => f.code);
    assert.deepEqual(denials, ["caller_unauthenticated", "bad_request", "provider_not_found", "caller_forbidden", "caller_forbidden"]);
  });

  it("serves hits to an already verified caller from the cache, counts expires_in down, and still denies through a promise", async () => {
    const auth = `Bearer ${await token("orders")}`;
    const fetched = await service.issue(request(auth, "ayyeka"));
    await service.issue(request(auth, "ayyeka"));
    clock.advance(60_000);
    const hit = await service.issue(request(auth, "ayyeka"));
    assert.equal(hit.credential.accessToken, fetched.credential.accessToken);
    assert.equal(hit.expiresInSec, 3540);
    assert.deepEqual(
      logger.events("token_issued").map((f) => f.cache),
      ["miss", "hit", "hit"],
    );
    // The same cached caller, denied: a rejected promise and an audit line.
    await rejectsWith(service.issue(request(auth, "phixflow")), "caller_forbidden");
    await rejectsWith(service.issue(request(auth, "ayyeka", "-1")), "bad_request");
    assert.deepEqual(
      logger.events("token_denied").map((f) => [f.caller, f.code]),
      [
        ["orders", "caller_forbidden"],
        ["orders", "bad_request"],
      ],
    );
    assert.equal(source.issueCalls.length, 1);
  });

  it("applies the default min_ttl and honours an explicit one", async () => {
    const auth = `Bearer ${await token("orders")}`;
    source.willIssue(40);
    await service.issue(request(auth, "ayyeka"));
    clock.advance(15_000); // 25 s left: below the default 30
    await service.issue(request(auth, "ayyeka"));
    assert.equal(source.issueCalls.length, 2);
    await service.issue(request(auth, "ayyeka", "0"));
    assert.equal(source.issueCalls.length, 2, "min_ttl=0 accepts the cached one");
  });

  it("writes exactly one line per rejected caller token, carrying the reason and a fingerprint", async () => {
    const forged = (await token("orders")).replace(/\.[^.]+$/, ".AAAA");
    await rejectsWith(service.issue(request(`Bearer ${forged}`, "ayyeka")), "caller_unauthenticated");
    assert.equal(logger.records.length, 1, logger.lines.join("\n"));
    const [line] = logger.events("token_denied");
    assert.equal(line?.code, "caller_unauthenticated");
    assert.equal(line?.reason, "signature invalid");
    assert.match(String(line?.token), /^sha256:[0-9a-f]{12}$/);
    assert.equal(line?.provider, "ayyeka");
  });

  it("echoes no provider name that is not configured, even a well-formed one, in the problem or the log", async () => {
    const auth = `Bearer ${await token("orders")}`;
    for (const name of ["ghost-provider", "x".repeat(10_000), "a\r\nfake-line"]) {
      const error = await Promise.resolve(service.issue(request(auth, name))).then(
        () => assert.fail("accepted"),
        (e: BrokerError) => e,
      );
      assert.equal(error.code, "provider_not_found");
      assert.ok(!error.detail.includes(name.slice(0, 5)), error.detail);
    }
    const lines = logger.lines.join("\n");
    assert.ok(!lines.includes("ghost-provider") && !lines.includes("xxxxx") && !lines.includes("fake-line"));
  });

  it("never echoes a malformed provider name into the log", async () => {
    const auth = `Bearer ${await token("orders")}`;
    await rejectsWith(service.issue(request(auth, "<script>CANARY")), "provider_not_found");
    assert.ok(!logger.lines.join("\n").includes("CANARY"));
  });
});

describe("TokenService telemetry", () => {
  let t: InMemoryTelemetry;
  let traced: TokenService;

  beforeEach(() => {
    t = inMemoryTelemetry();
    traced = newService(t.telemetry);
  });

  it("one server span per request with caller, provider and cache outcome; the hit path too", async () => {
    const auth = `Bearer ${await token("orders")}`;
    await traced.issue(request(auth, "ayyeka"));
    await traced.issue(request(auth, "ayyeka"));
    await traced.issue(request(auth, "ayyeka"));
    const requests = t.spans().filter((s) => s.name === "token_broker.token.request");
    assert.deepEqual(
      requests.map((s) => [s.attributes.caller, s.attributes.provider, s.attributes.outcome]),
      [
        ["orders", "ayyeka", "miss"],
        ["orders", "ayyeka", "hit"],
        ["orders", "ayyeka", "hit"],
      ],
    );
    const points = await t.points("token_broker.token.requests");
    assert.deepEqual(
      points.map((p) => [p.attributes.outcome, p.value]),
      [
        ["miss", 1],
        ["hit", 2],
      ],
    );
    const lifetime = await t.points("token_broker.credential.remaining_lifetime");
    assert.equal((lifetime[0]!.value as { count: number }).count, 3);
    const verifications = await t.points("token_broker.caller.verifications");
    assert.deepEqual(verifications.map((p) => [p.attributes.outcome, p.value]).sort(), [
      ["cached", 2],
      ["verified", 1],
    ]);
  });

  it("denials carry the code and status; a provider name that is not configured becomes one label", async () => {
    const auth = `Bearer ${await token("orders")}`;
    await rejectsWith(traced.issue(request(auth, "phixflow")), "caller_forbidden");
    for (let i = 0; i < 3; i++) await rejectsWith(traced.issue(request(auth, `nope-${i}`)), "provider_not_found");
    await rejectsWith(traced.issue(request("Bearer junk", "ayyeka")), "caller_unauthenticated");
    const points = await t.points("token_broker.token.requests");
    assert.deepEqual(
      points.map((p) => [p.attributes.provider, p.attributes.code, p.attributes["http.response.status_code"], p.value]),
      [
        ["phixflow", "caller_forbidden", 403, 1],
        ["(unknown)", "provider_not_found", 404, 3],
        ["ayyeka", "caller_unauthenticated", 401, 1],
      ],
    );
    const forbidden = t.spans().find((s) => s.attributes.code === "caller_forbidden");
    assert.equal(forbidden?.attributes["error.type"], "caller_forbidden");
  });

  it("no token, caller JWT or fingerprint in any span or metric", async () => {
    const jwt = await token("orders");
    const issued = await traced.issue(request(`Bearer ${jwt}`, "ayyeka"));
    const exported = JSON.stringify([
      t.spans().map((s) => [s.name, s.attributes, s.status, s.events]),
      await t.points("token_broker.token.requests"),
      await t.points("token_broker.credential.age"),
    ]);
    assert.ok(!exported.includes("CANARY"));
    assert.ok(!exported.includes(jwt));
    assert.ok(!exported.includes(issued.credential.accessToken!));
  });
});
