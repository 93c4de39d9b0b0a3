import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { TokenBrokerClient, TokenBrokerError, type TokenBrokerEvent } from "@token-broker/client";
import { secretCanaries } from "../support/canaries.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";
import { jsonBody } from "../support/json-body.js";

/**
 * The client package against a real broker process (local Functions host, demo sandbox partners):
 * caching, single-flight, refresh-ahead, Retry-After and the rejected-credential protocol.
 */
const ORDERS = "orders-service";
// Copies of the Ayyeka provider, one per scenario, so each starts cold. They share the sandbox's
// token counter, so the scenarios that count partner token requests run one after the other.
const CACHED = "ayyeka-client-cache";
const DOWN = "ayyeka-client-down";
const REVOKED = "ayyeka-client-revoked";
const ABORTED = "ayyeka-client-abort";
const COPIES = [CACHED, DOWN, REVOKED, ABORTED];

let demo: DemoBroker;
/** Every credential value the broker answered and every caller JWT (canaries for errors, events and logs). */
const served = new Set<string>();
/** Every event and error text the clients produced (checked for credential values last). */
const clientOutput: string[] = [];
/** Every request the clients made to the broker, by path. */
const brokerRequests: string[] = [];

before(async () => {
  demo = await startDemoBroker({
    edit: (raw) => {
      for (const name of COPIES) {
        raw.providers[name] = { ...raw.providers.ayyeka, upstream: { timeoutMs: 2000, maxAttempts: 1, maxRetryAfterSec: 1 } };
        raw.callers[ORDERS].providers.push(name);
      }
    },
  });
});

after(async () => {
  await demo?.close();
});

function newClient(options: { now?: () => number; events?: TokenBrokerEvent[] } = {}): TokenBrokerClient {
  let jwt: string | undefined;
  return new TokenBrokerClient({
    url: demo.broker.url,
    caller: async () => {
      jwt ??= await demo.env.issuer.mint(ORDERS);
      served.add(jwt); // the caller's own token is a canary too
      return jwt;
    },
    fetch: async (input, init) => {
      brokerRequests.push(new URL(String(input)).pathname);
      const res = await fetch(input, init);
      // Record what was served, for the canary checks, without consuming the caller's body.
      const copy = res.clone();
      jsonBody(copy).then(
        (body: any) => {
          if (typeof body?.access_token === "string") served.add(body.access_token);
          for (const v of Object.values(body?.headers ?? {})) if (typeof v === "string") served.add(v);
        },
        () => undefined,
      );
      return res;
    },
    onEvent: (e) => {
      options.events?.push(e);
      clientOutput.push(JSON.stringify(e));
    },
    now: options.now,
  });
}

const tokenRequestsFor = (provider: string) => brokerRequests.filter((p) => p === `/api/token/${provider}`).length;

describe("TokenBrokerClient against the broker", () => {
  test("1,000 concurrent getCredential calls make one broker request, later calls are served from the cache", async () => {
    const client = newClient();
    const before = demo.env.sandbox.ayyeka.tokenRequests;
    const started = performance.now();
    const all = await Promise.all(Array.from({ length: 1000 }, () => client.getCredential(CACHED)));
    const elapsedMs = performance.now() - started;
    assert.equal(tokenRequestsFor(CACHED), 1, "one broker request");
    assert.equal(demo.env.sandbox.ayyeka.tokenRequests - before, 1, "one partner token request");
    assert.ok(all.every((c) => c === all[0]), "every caller got the same credential");
    const credential = all[0]!;
    assert.equal(credential.tokenType, "Bearer");
    assert.match(credential.fingerprint, /^sha256:[0-9a-f]{12}$/);
    assert.equal(credential.headers.Authorization, `Bearer ${credential.accessToken}`);
    assert.ok(credential.expiresAt.getTime() > Date.now() + 3000_000);
    await client.getCredential(CACHED);
    await client.getCredential(CACHED, { minTtlSec: 600 });
    assert.equal(tokenRequestsFor(CACHED), 1, "served from the client's cache");
    console.log(`# single-flight: 1000 concurrent getCredential -> ${tokenRequestsFor(CACHED)} broker request in ${elapsedMs.toFixed(1)} ms`);
  });

  test("a credential due for refresh is still returned at once while a background request renews it", async () => {
    let now = Date.now();
    const client = newClient({ now: () => now });
    const first = await client.getCredential(CACHED);
    const requests = tokenRequestsFor(CACHED);
    // 3600 s token, 60 s margin: refresh-ahead at 75% of the usable life.
    now += 2800_000;
    const during = await client.getCredential(CACHED);
    assert.equal(during, first, "the cached credential is served while the refresh runs");
    for (let i = 0; i < 200 && tokenRequestsFor(CACHED) === requests; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(tokenRequestsFor(CACHED), requests + 1, "one background request");
    // Past the margin the old credential is never handed out; the refreshed one is.
    await new Promise((r) => setTimeout(r, 50));
    const after = await client.getCredential(CACHED);
    assert.equal(tokenRequestsFor(CACHED), requests + 1);
    assert.notEqual(after, first, "the refreshed credential replaced the cached one");
  });

  test("a 503 with Retry-After is a typed error, and no request is made before Retry-After has passed", async () => {
    const client = newClient();
    const sandbox = demo.env.sandbox.ayyeka;
    sandbox.faults.push({ status: 503 });
    const error = await client.getCredential(DOWN).then(
      () => assert.fail("expected a failure"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof TokenBrokerError);
    clientOutput.push(String(error.stack), JSON.stringify(error));
    assert.equal(error.code, "upstream_unavailable");
    assert.equal(error.status, 503);
    assert.ok(error.retryAfterSec !== undefined && error.retryAfterSec >= 1, `Retry-After ${error.retryAfterSec}`);
    const requests = tokenRequestsFor(DOWN);
    const again = await client.getCredential(DOWN).catch((e: unknown) => e);
    assert.ok(again instanceof TokenBrokerError && again.code === "upstream_unavailable");
    assert.equal(tokenRequestsFor(DOWN), requests, "no broker request within Retry-After");
    // Once it has passed, the client asks again (and the partner is back).
    await new Promise((r) => setTimeout(r, (error.retryAfterSec! * 1000) + 50));
    const credential = await client.getCredential(DOWN);
    assert.equal(tokenRequestsFor(DOWN), requests + 1);
    assert.equal(credential.provider, DOWN);
  });

  test("one caller giving up (its AbortSignal) ends only its own wait, not the request the others share", async () => {
    const client = newClient();
    const controller = new AbortController();
    const impatient = client.getCredential(ABORTED, { signal: controller.signal });
    const patient = client.getCredential(ABORTED);
    controller.abort(new Error("caller gave up"));
    await assert.rejects(impatient, /caller gave up/);
    const credential = await patient;
    assert.equal(credential.provider, ABORTED);
    assert.equal(tokenRequestsFor(ABORTED), 1);
  });

  test("a broker refusal is a TokenBrokerError with the problem code and nothing secret in it", async () => {
    const client = newClient();
    const forbidden = await client.getCredential("silverflow").catch((e: unknown) => e);
    assert.ok(forbidden instanceof TokenBrokerError);
    clientOutput.push(String(forbidden.stack), JSON.stringify(forbidden));
    assert.equal(forbidden.code, "caller_forbidden");
    assert.equal(forbidden.status, 403);
    const missing = await client.getCredential("no-such-provider").catch((e: unknown) => e);
    assert.ok(missing instanceof TokenBrokerError && missing.code === "provider_not_found" && missing.status === 404);
    const bad = await client.getCredential("Bad Name").catch((e: unknown) => e);
    assert.ok(bad instanceof TokenBrokerError && bad.code === "bad_request");
  });
});

describe("the rejected-credential path end to end", () => {
  const siteUrl = () => `${demo.env.sandbox.url}/ayyeka/v2.0/site`;

  test("the partner revokes the token: client.fetch sees 401, reports it, retries with a new one and succeeds", async () => {
    const events: TokenBrokerEvent[] = [];
    const client = newClient({ events });
    const sandbox = demo.env.sandbox.ayyeka;
    const ok = await client.fetch(REVOKED, siteUrl());
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const old = await client.getCredential(REVOKED);
    const tokensBefore = sandbox.tokenRequests;
    const rejectedBefore = sandbox.requests.siteRejected;

    sandbox.revokeTokens();
    const started = performance.now();
    const res = await client.fetch(REVOKED, siteUrl());
    const elapsedMs = performance.now() - started;
    assert.equal(res.status, 200, "retried with a fresh credential");
    assert.ok(Array.isArray((await jsonBody(res)).items));
    assert.equal(sandbox.requests.siteRejected - rejectedBefore, 1, "one 401 from the partner");
    assert.equal(sandbox.tokenRequests - tokensBefore, 1, "one partner token request");
    const report = events.find((e) => e.type === "credential_rejected");
    assert.deepEqual(report, { type: "credential_rejected", provider: REVOKED, fingerprint: old.fingerprint, outcome: "replaced" });
    const fresh = await client.getCredential(REVOKED);
    assert.notEqual(fresh.fingerprint, old.fingerprint);
    console.log(`# rejected credential: 401 -> report -> new credential -> retry succeeded in ${elapsedMs.toFixed(1)} ms, 1 partner token request`);

    // Another replica of the service still holding the old credential reports it later: nothing is fetched.
    const response = await report401(old.fingerprint);
    assert.equal(response.status, 200);
    const body = await jsonBody(response);
    assert.equal(body.outcome, "already_replaced");
    assert.equal(body.fingerprint, fresh.fingerprint);
    assert.equal(sandbox.tokenRequests - tokensBefore, 1, "already_replaced makes no partner call");
    // The audit lines (written in batches): caller, provider, fingerprint and outcome of each report.
    const replaced = await demo.broker.waitForLine(/"event":"credential_rejected".*"outcome":"replaced"/);
    for (const field of [`"caller":"${ORDERS}"`, `"provider":"${REVOKED}"`, `"fingerprint":"${old.fingerprint}"`, '"partner_fetch":true']) {
      assert.ok(replaced.includes(field), field);
    }
    await demo.broker.waitForLine(/"event":"credential_rejected".*"outcome":"already_replaced"/);
  });

  test("a second rejection within the rate limit is refused (429) and the partner is not called", async () => {
    const events: TokenBrokerEvent[] = [];
    const client = newClient({ events });
    const sandbox = demo.env.sandbox.ayyeka;
    await client.getCredential(REVOKED);
    const tokensBefore = sandbox.tokenRequests;
    sandbox.revokeTokens();
    const res = await client.fetch(REVOKED, siteUrl());
    assert.equal(res.status, 401, "the same credential, still refused: the 401 is returned after one retry");
    await res.body?.cancel();
    assert.equal(sandbox.tokenRequests - tokensBefore, 0, "no partner call");
    assert.ok(events.some((e) => e.type === "rejection_report_failed" && e.code === "rate_limited"));
    const current = await client.getCredential(REVOKED);
    const direct = await report401(current.fingerprint);
    assert.equal(direct.status, 429);
    assert.ok(Number(direct.headers.get("retry-after")) >= 1);
    assert.equal((await jsonBody(direct)).code, "rate_limited");
  });

  test("a fingerprint never served to the caller is a 400, a caller without the grant a 403, a bad body a 400", async () => {
    const tokensBefore = demo.env.sandbox.ayyeka.tokenRequests;
    const unknown = await report401("sha256:0123456789ab");
    assert.equal(unknown.status, 400);
    assert.equal((await jsonBody(unknown)).code, "bad_request");
    const current = await newClient().getCredential(REVOKED);
    const forbidden = await report401(current.fingerprint, "payments-service");
    assert.equal(forbidden.status, 403);
    for (const body of ["", "{", '{"fingerprint":"abc"}', '{"fingerprint":"sha256:0123456789ab","x":1}', "x".repeat(5000)]) {
      const res = await report401(undefined, ORDERS, body);
      assert.equal(res.status, 400, `body ${body.slice(0, 20)}`);
      assert.equal((await jsonBody(res)).code, "bad_request");
    }
    const anonymous = await fetch(`${demo.broker.url}/api/token/${REVOKED}/rejected`, { method: "POST", body: "{}" });
    assert.equal(anonymous.status, 401);
    const missing = await report401(current.fingerprint, ORDERS, undefined, "no-such-provider");
    assert.equal(missing.status, 404);
    assert.equal(demo.env.sandbox.ayyeka.tokenRequests, tokensBefore, "no report made a partner call");
    // GET on the same path is neither the token route nor a report.
    const get = await demo.call(`/api/token/${REVOKED}/rejected`, { caller: ORDERS });
    assert.ok(get.status === 404 || get.status === 405, `GET answered ${get.status}`);
  });

  test("a non-idempotent request is not retried after a 401 unless told to", async () => {
    let requests = 0;
    const partner: Server = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"' }).end();
    });
    await new Promise<void>((r) => partner.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(partner.address() as AddressInfo).port}/orders`;
      const client = newClient();
      const post = await client.fetch(CACHED, url, { method: "POST", body: '{"amount":1}' });
      assert.equal(post.status, 401);
      assert.equal(requests, 1, "POST sent once");
      const told = await client.fetch(CACHED, url, { method: "POST", body: '{"amount":1}', retryNonIdempotent: true });
      assert.equal(told.status, 401);
      assert.equal(requests, 3, "retried once when told to");
      const get = await client.fetch(CACHED, url);
      assert.equal(get.status, 401);
      assert.equal(requests, 5, "GET retried once");
    } finally {
      await new Promise((r) => partner.close(r));
    }
  });

  test("no credential value appears in the broker's log lines, the client's events or its errors", async () => {
    const log = demo.broker.lines.join("\n");
    const output = clientOutput.join("\n");
    assert.ok(output.includes("credential_rejected") && output.includes("caller_forbidden"), "events and errors were collected");
    for (const value of [...served, ...secretCanaries(Object.values(demo.env.sandbox.secrets))]) {
      assert.ok(!log.includes(value), "a served credential or secret appears in the log");
      assert.ok(!output.includes(value), "a served credential or secret appears in a client event or error");
    }
    assert.ok(served.size >= 4, `only ${served.size} canaries`);
  });
});

async function report401(fingerprint: string | undefined, caller = ORDERS, body?: string, provider = REVOKED): Promise<Response> {
  return fetch(`${demo.broker.url}/api/token/${provider}/rejected`, {
    method: "POST",
    headers: { authorization: `Bearer ${await demo.env.issuer.mint(caller)}`, "content-type": "application/json" },
    body: body ?? JSON.stringify({ fingerprint }),
  });
}
