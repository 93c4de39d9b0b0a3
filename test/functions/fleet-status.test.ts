import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { startRedisServer, type RedisServer } from "../../dev/redis-server.js";
import { secretCanaries } from "../support/canaries.js";
import { startDemoFleet, type DemoFleet } from "../support/demo-fleet.js";
import { redisSkipReason } from "../support/redis-skip.js";

/**
 * GET /api/ops/status for a fleet: four broker processes (local Functions host, real function
 * files) on one real redis-server publish heartbeats, and any of them answers for all.
 */
const FLEET_SIZE = 4;
const ORDERS = "orders-service";
const OPS = "ops-console";
/** An Ayyeka copy whose circuit opens on the first failed fetch. */
const FRAGILE = "ayyeka-fragile";

const skip = redisSkipReason();

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("fleet-wide operator status", { skip }, () => {
  let redis: RedisServer;
  let fleet: DemoFleet;
  /** Every status answer body. */
  const served: string[] = [];
  const issued: string[] = [];

  before(async () => {
    redis = await startRedisServer();
    fleet = await startDemoFleet({
      size: FLEET_SIZE,
      redisUrl: redis.url,
      edit: (raw) => {
        raw.status = { heartbeatSec: 1, staleAfterSec: 3, summaryAbove: 4 };
        raw.providers[FRAGILE] = {
          ...raw.providers.ayyeka,
          upstream: { timeoutMs: 2000, maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 20, maxRetryAfterSec: 1, breakerFailures: 1, breakerOpenSec: 600 },
        };
        raw.callers[ORDERS].providers.push(FRAGILE);
      },
    });
  });

  after(async () => {
    await fleet?.close();
    await redis?.stop();
  });

  const status = async (index: number, query = "") => {
    const res = await fleet.call(index, `/api/ops/status${query}`, { caller: OPS });
    const text = await res.text();
    served.push(text);
    return { status: res.status, body: JSON.parse(text) };
  };

  const idOf = async (index: number): Promise<string> => (await status(index, "?provider=flowe")).body.instances[0].id;

  test("every instance lists the whole fleet, itself first", async () => {
    const body = await waitFor(async () => {
      const { body } = await status(0, "?view=full");
      return body.instances.length === FLEET_SIZE && body.instances.every((i: any) => !i.stale) ? body : undefined;
    }, "four live instances in the status");
    assert.equal(body.scope, "fleet");
    assert.equal(body.note, undefined);
    assert.equal(body.instances[0].self, true);
    assert.equal(body.instances.filter((i: any) => i.self).length, 1);
    assert.equal(new Set(body.instances.map((i: any) => i.id)).size, FLEET_SIZE);
    for (const instance of body.instances) {
      assert.equal(instance.version, "0.1.0");
      assert.ok(Date.parse(instance.started_at) <= Date.parse(instance.last_seen_at));
      assert.equal(instance.degraded, false);
    }
    const other = (await status(2, "?view=full")).body;
    assert.notEqual(other.instances[0].id, body.instances[0].id, "each instance lists itself first");
    assert.deepEqual(new Set(other.instances.map((i: any) => i.id)), new Set(body.instances.map((i: any) => i.id)));
  });

  test("a token fetched on one instance shows as valid in the fleet status of another", async () => {
    const res = await fleet.call(1, "/api/token/ayyeka", { caller: ORDERS });
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    issued.push(body.access_token, body.headers.Authorization);
    const ayyeka = await waitFor(async () => {
      const { body } = await status(0, "?provider=ayyeka");
      const p = body.providers[0];
      return p.fleet?.valid_on >= 1 ? p : undefined;
    }, "instance 1's token in instance 0's status");
    assert.equal(ayyeka.token.state, "cold", "instance 0 itself never fetched it");
    assert.deepEqual(ayyeka.states, ["valid"]);
    assert.equal(ayyeka.fleet.expires_at, body.expires_at);
    assert.ok(ayyeka.fleet.last_refresh_at);
  });

  test("a circuit open on one instance is found with ?state=circuit_open on any other", async () => {
    const ayyeka = fleet.env.sandbox.ayyeka;
    ayyeka.faults.push({ status: 503 });
    try {
      const res = await fleet.call(2, `/api/token/${FRAGILE}`, { caller: ORDERS });
      assert.equal(res.status, 503);
    } finally {
      ayyeka.faults.length = 0;
    }
    const open = await waitFor(async () => {
      const { body } = await status(3, "?state=circuit_open");
      return body.providers.length > 0 ? body : undefined;
    }, "the open circuit in the fleet status");
    assert.deepEqual(
      open.providers.map((p: any) => p.provider),
      [FRAGILE],
    );
    const fragile = open.providers[0];
    assert.deepEqual(fragile.states, ["cold", "circuit_open", "failing"]);
    const failedOn = await idOf(2);
    assert.deepEqual(fragile.fleet.circuit_open_on, [failedOn]);
    assert.equal(fragile.fleet.last_error.instance, failedOn);
    assert.equal(fragile.fleet.last_error.code, "upstream_unavailable");
    assert.equal(open.summary.providers, 1);
    assert.deepEqual(open.filters, { states: ["circuit_open"] });
  });

  test("above summaryAbove the default is counts per state; ?view=full lists every provider", async () => {
    const { body: summary } = await status(1);
    const configured = Object.keys(fleet.env.config.providers).length;
    assert.ok(configured > 4);
    assert.equal(summary.view, "summary");
    assert.equal(summary.providers, undefined);
    assert.match(summary.hint, /view=full/);
    assert.equal(summary.summary.providers, configured);
    assert.equal(summary.summary.valid + summary.summary.expired + summary.summary.cold, configured);
    assert.ok(summary.summary.valid >= 1 && summary.summary.circuit_open >= 1);
    const { body: full } = await status(1, "?view=full");
    assert.equal(full.providers.length, configured);
  });

  test("bad filters are a 400 that does not repeat them; an unknown provider is a 404", async () => {
    for (const query of ["?state=CANARY-state", "?state=", "?provider=CANARY%3Cx%3E", "?view=CANARY"]) {
      const res = await fleet.call(0, `/api/ops/status${query}`, { caller: OPS });
      assert.equal(res.status, 400, query);
      assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
      const text = await res.text();
      assert.equal(JSON.parse(text).code, "bad_request");
      assert.ok(!text.includes("CANARY"), `the answer to ${query} repeats the input`);
    }
    const res = await fleet.call(0, "/api/ops/status?provider=no-such-canary", { caller: OPS });
    assert.equal(res.status, 404);
    assert.ok(!(await res.text()).includes("no-such-canary"));
    assert.equal((await fleet.call(0, "/api/ops/status?state=expired", { caller: ORDERS })).status, 403, "the operator role first");
  });

  test("a killed instance is marked stale; a stopped one leaves the list", async () => {
    const before = (await status(0, "?view=full")).body.instances;
    const ids = [await idOf(2), await idOf(3)];
    await fleet.instances[3]!.kill();
    await fleet.instances[2]!.stop();
    const after = await waitFor(async () => {
      const { body } = await status(0, "?view=full");
      const killed = body.instances.find((i: any) => i.id === ids[1]);
      return killed?.stale === true ? body : undefined;
    }, "the killed instance marked stale", 15_000);
    assert.equal(before.length, FLEET_SIZE);
    assert.equal(after.instances.length, FLEET_SIZE - 1, "the stopped instance removed its heartbeat");
    assert.equal(
      after.instances.some((i: any) => i.id === ids[0]),
      false,
    );
    assert.deepEqual(
      after.instances.map((i: any) => i.stale),
      [false, false, true],
    );
    assert.equal(after.providers.find((p: any) => p.provider === "ayyeka").fleet.valid_on, 1);
  });

  test("no secret, issued token or caller JWT in any status answer or Redis heartbeat", async () => {
    const client = createClient({ url: redis.url });
    await client.connect();
    const heartbeats: string[] = [];
    try {
      for await (const batch of client.scanIterator({ MATCH: "broker:{heartbeats}:*", COUNT: 100 })) {
        for (const key of batch) if ((await client.type(key)) === "string") heartbeats.push((await client.get(key)) ?? "");
      }
    } finally {
      client.destroy();
    }
    assert.ok(heartbeats.length >= 2, `${heartbeats.length} heartbeats in Redis`);
    const fingerprints = served.join("\n").match(/sha256:[0-9a-f]{12}/g) ?? [];
    assert.ok(fingerprints.length > 0, "the status shows fingerprints");
    for (const beat of heartbeats) assert.ok(!/sha256:/.test(beat), "a heartbeat carries no fingerprint");
    const canaries = [...secretCanaries(Object.values(fleet.env.sandbox.secrets)), ...fleet.callerTokens, ...issued];
    assert.ok(issued.length > 0);
    const stored = [...served, ...heartbeats].join("\n");
    for (const canary of canaries) assert.ok(!stored.includes(canary), "a secret or token value in a status answer or heartbeat");
  });
});
