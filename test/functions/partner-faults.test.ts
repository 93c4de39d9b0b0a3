import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HttpFault } from "../../dev/sandbox/faults.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";
import { jsonBody } from "../support/json-body.js";

/**
 * A partner that misbehaves on purpose (the Ayyeka and Entra sandboxes), seen end to end through
 * the local host: what callers and operators get when it throttles, hangs, answers too much or
 * answers a credential that is already dead.
 */
let demo: DemoBroker;

/** Copies of the Ayyeka provider, one per scenario, so each starts cold and with its own breaker. */
const THROTTLED = "ayyeka-throttled";
const HUGE = "ayyeka-huge";
const SLOW = "ayyeka-slow";
const DRIPPING = "ayyeka-dripping";
const LIFETIMES = "ayyeka-lifetimes";
const MAX_THROTTLE_SEC = 60;
const DEADLINE_MS = 2500;

before(async () => {
  demo = await startDemoBroker({
    edit: (raw) => {
      const copy = (upstream: Record<string, unknown>) => ({ ...raw.providers.ayyeka, upstream: { breakerFailures: 100, ...upstream } });
      raw.providers[THROTTLED] = copy({ maxThrottleSec: MAX_THROTTLE_SEC });
      raw.providers[HUGE] = copy({});
      // Each attempt may take 2 s and three are allowed: only the deadline keeps a caller under 6 s.
      const slow = { timeoutMs: 2000, maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20, deadlineMs: DEADLINE_MS };
      raw.providers[SLOW] = copy(slow);
      raw.providers[DRIPPING] = copy(slow);
      raw.providers[LIFETIMES] = copy({});
      raw.callers["orders-service"].providers.push(THROTTLED, HUGE, SLOW, DRIPPING, LIFETIMES);
    },
  });
});

after(async () => {
  await demo?.close();
});

const ayyeka = () => demo.env.sandbox.ayyeka;
const token = (provider: string) => demo.call(`/api/token/${provider}`, { caller: "orders-service" });
const refresh = (provider: string, query = "") =>
  demo.call(`/api/ops/providers/${provider}/refresh${query}`, { caller: "ops-console", method: "POST" });

async function statusOf(provider: string): Promise<any> {
  const status = await jsonBody(await demo.call("/api/ops/status", { caller: "ops-console" }));
  return status.providers.find((p: any) => p.provider === provider);
}

function assertRetryAfter(res: Response, max: number): number {
  const header = res.headers.get("retry-after") ?? "";
  assert.match(header, /^\d+$/, `Retry-After "${header}" is a whole number of seconds`);
  const value = Number(header);
  assert.ok(value <= max, `Retry-After ${value} within ${max}`);
  return value;
}

function unsignedJwt(payload: Record<string, unknown>): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${part({ alg: "RS384", typ: "JWT" })}.${part(payload)}.c2ln`;
}

describe("a partner that throttles", () => {
  test("an absurd Retry-After is capped, shown in status, and an operator refresh tries the partner at once", async () => {
    ayyeka().faults.push({ status: 429, retryAfter: "99999999999999999999999" });
    const first = await token(THROTTLED);
    assert.equal(first.status, 503);
    assert.equal(assertRetryAfter(first, MAX_THROTTLE_SEC), MAX_THROTTLE_SEC);

    const requests = ayyeka().tokenRequests;
    const waiting = await token(THROTTLED);
    assert.equal(waiting.status, 503);
    assertRetryAfter(waiting, MAX_THROTTLE_SEC);
    assert.equal(ayyeka().tokenRequests, requests, "no partner call while the throttle holds");

    const status = await statusOf(THROTTLED);
    const until = Date.parse(status.throttled_until);
    assert.ok(until > Date.now() && until <= Date.now() + MAX_THROTTLE_SEC * 1000, `throttled_until ${status.throttled_until}`);

    const refreshed = await refresh(THROTTLED);
    assert.equal(refreshed.status, 200, await refreshed.clone().text());
    assert.equal(ayyeka().tokenRequests, requests + 1, "the operator's refresh went to the partner");
    assert.equal((await token(THROTTLED)).status, 200);
    assert.equal((await statusOf(THROTTLED)).throttled_until, undefined);
  });

  test("an HTTP-date Retry-After is understood", async () => {
    ayyeka().faults.push({ status: 429, retryAfter: new Date(Date.now() + 30_000).toUTCString() });
    assert.equal((await refresh(THROTTLED, "?revoke=true")).status, 503);
    const res = await token(THROTTLED);
    assert.equal(res.status, 503);
    const seconds = assertRetryAfter(res, MAX_THROTTLE_SEC);
    assert.ok(seconds >= 25 && seconds <= 31, `Retry-After ${seconds} from an HTTP-date 30 s ahead`);
  });
});

describe("a partner that answers too much", () => {
  test("a 500 MB body is abandoned after the byte limit, not buffered: 502 upstream_rejected", async () => {
    const fault: HttpFault & { written?: number } = { hugeBodyBytes: 500 * 1024 * 1024 };
    ayyeka().faults.push(fault);
    const res = await token(HUGE);
    assert.equal(res.status, 502);
    const problem = await jsonBody(res);
    assert.equal(problem.code, "upstream_rejected");
    assert.match(problem.detail, /larger than 65536 bytes/);
    assert.ok((fault.written ?? 0) < 64 * 1024 * 1024, `the partner could write only ${fault.written} bytes before the broker hung up`);
    assert.equal((await token(HUGE)).status, 200, "the next answer is served");
  });

  test("a token longer than maxTokenBytes is refused", async () => {
    const long = "a".repeat(20_000);
    ayyeka().faults.push({ json: { access_token: long, token_type: "Bearer", expires_in: 3600 } });
    const res = await refresh(HUGE, "?revoke=true");
    assert.equal(res.status, 502);
    assert.match((await jsonBody(res)).detail, /access token of 20000 bytes exceeds the 16384-byte limit/);
    const next = await token(HUGE);
    assert.equal(next.status, 200);
    assert.notEqual((await jsonBody(next)).access_token, long, "the refused token was not cached");
  });
});

describe("a partner that hangs", () => {
  for (const [provider, what, fault] of [
    [SLOW, "never answers", { hang: true }],
    [DRIPPING, "drips its body", { dripMs: 200 }],
  ] as const) {
    test(`a caller is answered within the overall deadline when the partner ${what}`, async () => {
      ayyeka().faults.push(fault, fault, fault);
      const started = Date.now();
      const res = await token(provider);
      const elapsed = Date.now() - started;
      assert.equal(res.status, 503);
      assertRetryAfter(res, 300);
      assert.equal((await jsonBody(res)).code, "upstream_unavailable");
      // Three 2 s attempts would take over 6 s; the deadline answers after 2.5 s (margin for load).
      assert.ok(elapsed < DEADLINE_MS + 2500, `answered after ${elapsed} ms`);
      ayyeka().faults.length = 0;
    });
  }
});

describe("a partner that answers a dead credential", () => {
  const cases: [string, unknown][] = [
    ["expires_in -5", { access_token: "opaque-dead-1", token_type: "Bearer", expires_in: -5 }],
    ["expires_in 0", { access_token: "opaque-dead-2", token_type: "Bearer", expires_in: 0 }],
    ["a JWT exp in the past", { access_token: unsignedJwt({ exp: Math.floor(Date.now() / 1000) - 60 }), token_type: "JWT" }],
  ];
  for (const [what, json] of cases) {
    test(`${what} is never served nor cached`, async () => {
      ayyeka().faults.push({ json });
      const res = await refresh(LIFETIMES, "?revoke=true");
      assert.equal(res.status, 502);
      const problem = await jsonBody(res);
      assert.equal(problem.code, "upstream_rejected");
      assert.match(problem.detail, /already expired/);
      const next = await token(LIFETIMES);
      assert.equal(next.status, 200, "the next request fetches a new credential");
      assert.notEqual((await jsonBody(next)).access_token, (json as { access_token: string }).access_token);
    });
  }

  test("a very short lifetime is served for what it is, without a partner call per request", async () => {
    ayyeka().faults.push({ json: { access_token: "opaque-short-lived", token_type: "Bearer", expires_in: 45 } });
    assert.equal((await refresh(LIFETIMES, "?revoke=true")).status, 200);
    const requests = ayyeka().tokenRequests;
    for (let i = 0; i < 20; i++) {
      const res = await token(LIFETIMES);
      assert.equal(res.status, 200);
      const served = await jsonBody(res);
      assert.equal(served.access_token, "opaque-short-lived");
      assert.ok(served.expires_in <= 45 && served.expires_in > 30, `expires_in ${served.expires_in}`);
    }
    assert.equal(ayyeka().tokenRequests, requests, "served from the cache");
    const status = await statusOf(LIFETIMES);
    const refreshAt = Date.parse(status.token.refresh_at);
    assert.ok(refreshAt > Date.parse(status.token.issued_at) && refreshAt < Date.parse(status.token.expires_at));
  });
});

describe("operator refresh during a partner outage", () => {
  test("keeps serving the working credential; only revoke=true drops it", async () => {
    const authority = demo.env.sandbox.authority;
    const first = await jsonBody(await token("kalibrate"));
    assert.ok(first.access_token);

    authority.faults.push({ status: 500 }, { status: 500 }, { status: 500 });
    const failed = await refresh("kalibrate");
    assert.equal(failed.status, 503);
    const served = await token("kalibrate");
    assert.equal(served.status, 200, "callers keep the credential in service");
    assert.equal((await jsonBody(served)).access_token, first.access_token);
    const status = await statusOf("kalibrate");
    assert.equal(status.token.state, "valid");
    assert.equal(status.token.last_error.code, "upstream_unavailable");

    authority.faults.push({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const revoked = await refresh("kalibrate", "?revoke=true");
    assert.equal(revoked.status, 503);
    assert.equal((await token("kalibrate")).status, 503, "a revoked credential is not served");
    authority.faults.length = 0;

    const refreshed = await refresh("kalibrate");
    assert.equal(refreshed.status, 200);
    const now = await jsonBody(await token("kalibrate"));
    assert.notEqual(now.access_token, first.access_token);
  });

  test("a malformed revoke flag is a 400", async () => {
    const res = await refresh("kalibrate", "?revoke=maybe");
    assert.equal(res.status, 400);
    assert.equal((await jsonBody(res)).code, "bad_request");
  });
});
