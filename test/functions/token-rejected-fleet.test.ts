import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TokenBrokerClient, type TokenBrokerEvent } from "@token-broker/client";
import { startRedisServer, type RedisServer } from "../../dev/redis-server.js";
import { startDemoFleet, type DemoFleet } from "../support/demo-fleet.js";
import { redisSkipReason } from "../support/redis-skip.js";

/**
 * Rejected-credential reports across a fleet: four broker processes sharing one real Redis, a
 * hundred callers (each its own client, spread over the instances) whose partner revokes the
 * token they all hold.
 */
const FLEET_SIZE = 4;
const CALLERS = 100;
const ORDERS = "orders-service";
const PROVIDER = "ayyeka-fleet-rejected";

describe("rejected-credential reports in a fleet sharing one Redis", { skip: redisSkipReason() }, () => {
  let redis: RedisServer;
  let fleet: DemoFleet;

  before(async () => {
    redis = await startRedisServer();
    fleet = await startDemoFleet({
      size: FLEET_SIZE,
      redisUrl: redis.url,
      edit: (raw) => {
        raw.providers[PROVIDER] = { ...raw.providers.ayyeka, upstream: { timeoutMs: 2000, maxAttempts: 1 } };
        raw.callers[ORDERS].providers.push(PROVIDER);
      },
    });
  });

  after(async () => {
    await fleet?.close();
    await redis?.stop();
  });

  test("a hundred callers on four instances reporting the same revoked token cause exactly one partner token request", async () => {
    const ayyeka = fleet.env.sandbox.ayyeka;
    const authorization = await fleet.authorization(ORDERS);
    const jwt = authorization.slice("Bearer ".length);
    const events: TokenBrokerEvent[] = [];
    const clients = Array.from(
      { length: CALLERS },
      (_, i) => new TokenBrokerClient({ url: fleet.instances[i % FLEET_SIZE]!.url, caller: () => jwt, onEvent: (e) => events.push(e) }),
    );
    const site = `${fleet.env.sandbox.url}/ayyeka/v2.0/site`;
    const held = await Promise.all(clients.map((c) => c.getCredential(PROVIDER)));
    assert.equal(new Set(held.map((c) => c.fingerprint)).size, 1, "every caller holds the same credential");
    const old = held[0]!.fingerprint;

    ayyeka.revokeTokens();
    const tokensBefore = ayyeka.tokenRequests;
    const rejectedBefore = ayyeka.requests.siteRejected;
    // The partner call is held back a little so the reports pile up while it runs.
    ayyeka.faults.push({ delayMs: 300 });
    const started = performance.now();
    let responses: Response[];
    try {
      responses = await Promise.all(clients.map((c) => c.fetch(PROVIDER, site)));
    } finally {
      ayyeka.faults.length = 0;
    }
    const elapsedMs = performance.now() - started;
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.map((r) => r.body?.cancel()));

    assert.deepEqual([...new Set(statuses)], [200], "every caller succeeded on its retry");
    assert.equal(ayyeka.requests.siteRejected - rejectedBefore, CALLERS, "each caller saw one 401");
    assert.equal(ayyeka.tokenRequests - tokensBefore, 1, "exactly one partner token request for the whole fleet");
    const reports = events.filter((e) => e.type === "credential_rejected");
    assert.equal(reports.length, CALLERS, "every caller's report was answered");
    assert.ok(reports.every((e) => e.fingerprint === old && (e.outcome === "replaced" || e.outcome === "already_replaced")));
    const fresh = await Promise.all(clients.map((c) => c.getCredential(PROVIDER)));
    assert.equal(new Set(fresh.map((c) => c.fingerprint)).size, 1, "every instance now serves the same new credential");
    assert.notEqual(fresh[0]!.fingerprint, old);
    const fetchedBy = fleet.instances.filter((b) => b.lines.some((l) => l.includes('"event":"token_fetched"') && l.includes('"forced":true') && l.includes(PROVIDER)));
    console.log(
      `# rejected credential, fleet: ${CALLERS} callers on ${FLEET_SIZE} instances -> ${ayyeka.tokenRequests - tokensBefore} partner token request; ` +
        `${reports.filter((e) => e.outcome === "replaced").length} answered replaced, ${reports.filter((e) => e.outcome === "already_replaced").length} already_replaced; ` +
        `all ${CALLERS} retries succeeded in ${elapsedMs.toFixed(0)} ms (forced fetch logged by ${fetchedBy.length} instance)`,
    );
  });
});
