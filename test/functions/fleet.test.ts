import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { FLOWE, KALIBRATE } from "../../dev/sandbox/demo-identities.js";
import { leaseTtlMs } from "../../shared/cache/fleet-cache.js";
import { DEFAULT_CACHE_KEY_SECRET } from "../../shared/cache/data-key.js";
import { FileSecretStore } from "../../shared/secrets/file-store.js";
import { systemClock } from "../../functions/system.js";
import { secretCanaries } from "../support/canaries.js";
import { startDemoFleet, type DemoFleet } from "../support/demo-fleet.js";
import { startRedisServer, type RedisServer } from "../../dev/redis-server.js";
import { redisSkipReason } from "../support/redis-skip.js";
import { TokenBrokerClient, type TokenBrokerEvent } from "@token-broker/client";

/**
 * Acceptance of the shared Redis cache: four real broker processes (local Functions host, real
 * function files and SDKs) on one demo world and one real redis-server, driven over HTTP.
 */
const FLEET_SIZE = 4;

// Copies of the Ayyeka provider, one per scenario, so every scenario starts cold. They share the
// sandbox's token counter, so scenarios that count upstream requests run one at a time.
const BURST = "ayyeka-burst";
const CRASH = "ayyeka-crash";
const OUTAGE_WARM = "ayyeka-outage";
const OUTAGE_COLD = "ayyeka-outage-cold";
const RESUMED = "ayyeka-resumed";
const REJECTED = "ayyeka-rejected";
const COPIES = [BURST, CRASH, OUTAGE_WARM, OUTAGE_COLD, RESUMED, REJECTED];

/**
 * One attempt per fetch with a 2 s timeout and deadline on EVERY provider: the single-flight lease is sized
 * for the slowest provider (leaseTtlMs), so this brings it down to its 5 s floor.
 */
const SHORT_UPSTREAM = { timeoutMs: 2000, deadlineMs: 2000, maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 20, maxRetryAfterSec: 1 };

const ORDERS = "orders-service";
const PAYMENTS = "payments-service";
const OPS = "ops-console";

/** Every access_token and Authorization header value any instance answered: canaries. */
const issued = new Set<string>();

interface TokenAnswer {
  status: number;
  token?: string;
  error?: string;
}

function remember(body: any): void {
  if (typeof body?.access_token === "string") issued.add(body.access_token);
  if (typeof body?.headers?.Authorization === "string") issued.add(body.headers.Authorization);
  if (typeof body?.headers?.AuthKey === "string") issued.add(body.headers.AuthKey);
}

/** GET a token; network errors and non-200s become an answer, never a throw. */
async function getToken(url: string, authorization: string): Promise<TokenAnswer> {
  try {
    const res = await fetch(url, { headers: { authorization } });
    const text = await res.text();
    if (res.status !== 200) return { status: res.status, error: text.slice(0, 200) };
    const body = JSON.parse(text);
    remember(body);
    return { status: 200, token: body.headers.Authorization };
  } catch (error) {
    return { status: 0, error: String(error) };
  }
}

async function waitUntil(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const skip = redisSkipReason();

describe("a fleet of broker processes sharing one Redis", { skip }, () => {
  let redis: RedisServer;
  let fleet: DemoFleet;

  before(async () => {
    redis = await startRedisServer();
    fleet = await startDemoFleet({
      size: FLEET_SIZE,
      redisUrl: redis.url,
      edit: (raw) => {
        for (const name of COPIES) {
          raw.providers[name] = { ...raw.providers.ayyeka };
          raw.callers[ORDERS].providers.push(name);
        }
        for (const provider of Object.values<any>(raw.providers)) provider.upstream = { ...SHORT_UPSTREAM };
        // The sandbox partner shares this test process with a hundred callers: 3 s (the lease stays at its 5 s floor).
        raw.providers[REJECTED].upstream.timeoutMs = 3000;
        raw.providers[REJECTED].upstream.deadlineMs = 3000;
        // Keys propagate instantly in the sandbox; keep verification quick.
        raw.providers.silverflow.rotation.verify = { attempts: 3, delayMs: 100 };
      },
    });
  });

  after(async () => {
    await fleet?.close();
    await redis?.stop();
  });

  const tokenUrl = (index: number, provider: string) => `${fleet.instances[index]!.url}/api/token/${provider}`;

  test("1000 concurrent cold requests over 4 instances cost exactly one partner token request", async () => {
    const ayyeka = fleet.env.sandbox.ayyeka;
    const before = ayyeka.tokenRequests;
    // The one partner call is held back, so all 1000 requests arrive while the token is still cold.
    ayyeka.faults.push({ delayMs: 800 });
    const authorization = await fleet.authorization(ORDERS);
    let answers: TokenAnswer[];
    try {
      answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => getToken(tokenUrl(i % FLEET_SIZE, BURST), authorization)));
    } finally {
      ayyeka.faults.length = 0;
    }

    const failed = answers.filter((a) => a.status !== 200);
    assert.deepEqual(failed.slice(0, 3), [], `${failed.length} of 1000 requests failed`);
    assert.equal(new Set(answers.map((a) => a.token)).size, 1, "every instance served the same token");
    assert.equal(ayyeka.tokenRequests - before, 1, "exactly one upstream token request for the whole fleet");
  });

  test("a hundred callers on four instances reporting the same revoked token cause exactly one partner token request", async () => {
    const ayyeka = fleet.env.sandbox.ayyeka;
    const jwt = (await fleet.authorization(ORDERS)).slice("Bearer ".length);
    const events: TokenBrokerEvent[] = [];
    // A hundred callers, each with its own client (its own cache), spread over the instances.
    const clients = Array.from(
      { length: 100 },
      (_, i) => new TokenBrokerClient({ url: fleet.instances[i % FLEET_SIZE]!.url, caller: () => jwt, onEvent: (e) => events.push(e) }),
    );
    const site = `${fleet.env.sandbox.url}/ayyeka/v2.0/site`;
    // One credential in service before the revocation (the cold burst has its own test above).
    await clients[0]!.getCredential(REJECTED);
    const held = await Promise.all(clients.map((c) => c.getCredential(REJECTED)));
    assert.equal(new Set(held.map((c) => c.fingerprint)).size, 1, "every caller holds the same credential");
    const old = held[0]!;
    issued.add(old.accessToken!);
    // The services are already talking to the partner (open connections) when it revokes the token:
    // the sandbox partner lives in this test process, and a hundred TLS handshakes at once on a
    // loaded machine would otherwise delay the broker's own token request past its timeout.
    const warm = await Promise.all(clients.map((c) => c.fetch(REJECTED, site)));
    assert.deepEqual([...new Set(warm.map((r) => r.status))], [200]);
    await Promise.all(warm.map((r) => r.body?.cancel()));

    ayyeka.revokeTokens();
    const tokensBefore = ayyeka.tokenRequests;
    const rejectedBefore = ayyeka.requests.siteRejected;
    const responses = await Promise.all(clients.map((c) => c.fetch(REJECTED, site)));
    const statuses = responses.map((r) => r.status);
    await Promise.all(responses.map((r) => r.body?.cancel()));

    assert.deepEqual([...new Set(statuses)], [200], "every caller succeeded on its retry");
    assert.equal(ayyeka.requests.siteRejected - rejectedBefore, 100, "each caller saw one 401");
    assert.equal(ayyeka.tokenRequests - tokensBefore, 1, "exactly one partner token request for the whole fleet");
    const reports = events.filter((e) => e.type === "credential_rejected");
    assert.equal(reports.length, 100, "every caller's report was answered");
    assert.ok(reports.every((e) => e.fingerprint === old.fingerprint && (e.outcome === "replaced" || e.outcome === "already_replaced")));
    const fresh = await Promise.all(clients.map((c) => c.getCredential(REJECTED)));
    assert.equal(new Set(fresh.map((c) => c.fingerprint)).size, 1, "every instance now serves the same new credential");
    assert.notEqual(fresh[0]!.fingerprint, old.fingerprint);
    issued.add(fresh[0]!.accessToken!);
    console.log(
      `# rejected credential, fleet: 100 callers on ${FLEET_SIZE} instances -> ${ayyeka.tokenRequests - tokensBefore} partner token request; ` +
        `${reports.filter((e) => e.outcome === "replaced").length} reports answered replaced, ` +
        `${reports.filter((e) => e.outcome === "already_replaced").length} already_replaced`,
    );
  });

  test("the maintenance timer on one instance pre-warms flowe and kalibrate for the whole fleet", async () => {
    const authority = fleet.env.sandbox.authority;
    const counts = () => [authority.requestsFor(FLOWE.clientId, FLOWE.apiScope), authority.requestsFor(KALIBRATE.clientId, KALIBRATE.scope)];
    assert.deepEqual(counts(), [0, 0], "flowe and kalibrate are cold before the timer runs");

    const runner = fleet.instances[0]!;
    await runner.invoke("maintenance");
    assert.ok(runner.lines.some((l) => l.includes("Executed 'Functions.maintenance' (Succeeded)")), "maintenance succeeded");
    assert.deepEqual(counts(), [1, 1], "one pre-warm token request per provider");

    const authorization = await fleet.authorization(ORDERS);
    for (const provider of ["flowe", "kalibrate"]) {
      const served = [];
      for (let i = 1; i < FLEET_SIZE; i++) served.push(await getToken(tokenUrl(i, provider), authorization));
      served.push(await getToken(tokenUrl(0, provider), authorization));
      assert.deepEqual(
        served.map((s) => s.status),
        [200, 200, 200, 200],
      );
      assert.equal(new Set(served.map((s) => s.token)).size, 1, `${provider}: every instance serves the pre-warmed token`);
    }
    assert.deepEqual(counts(), [1, 1], "the other instances made no upstream token request");
  });

  test("when the flight holder dies mid-fetch, another instance takes over once its lease expires", async (t) => {
    const ayyeka = fleet.env.sandbox.ayyeka;
    const lease = leaseTtlMs(fleet.env.config);
    assert.equal(lease, 5000, "the short upstream policy gives the 5 s lease floor");
    const before = ayyeka.tokenRequests;
    // Holds the holder's partner call beyond its 2 s timeout and the lease: the kill comes first.
    ayyeka.faults.push({ delayMs: 15_000 });
    const authorization = await fleet.authorization(ORDERS);
    const holder = fleet.instances[0]!;
    const holderAnswer = getToken(tokenUrl(0, CRASH), authorization);
    let answers: (TokenAnswer & { ms: number })[];
    let killedAt: number;
    try {
      await waitUntil(() => ayyeka.tokenRequests > before, "the holder's token request at the sandbox");
      await holder.kill();
      killedAt = Date.now();
      answers = await Promise.all(
        [1, 2, 3].flatMap((i) =>
          Array.from({ length: 5 }, () => getToken(tokenUrl(i, CRASH), authorization).then((a) => ({ ...a, ms: Date.now() - killedAt }))),
        ),
      );
    } finally {
      // Later tests need four live instances whatever happened here.
      ayyeka.faults.length = 0;
      await holder.kill();
      await fleet.replace(0);
    }
    const slowest = Math.max(...answers.map((a) => a.ms));
    t.diagnostic(`other instances answered ${slowest} ms after the holder was killed (lease ${lease} ms)`);
    assert.equal((await holderAnswer).status, 0, "the killed holder never answered");
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
    );
    assert.equal(new Set(answers.map((a) => a.token)).size, 1, "one credential for every waiter");
    assert.ok(slowest <= lease + 2000, `answered within the lease plus a margin (${slowest} ms)`);
    assert.equal(ayyeka.tokenRequests - before, 2, "the dead holder's request plus exactly one takeover");
    assert.ok(
      fleet.instances.slice(1).some((b) => b.lines.some((l) => l.includes('"event":"fleet_flight_takeover"'))),
      "a takeover was logged",
    );
  });

  test("two rotations triggered at once on two instances: exactly one runs, the other gets 409", async (t) => {
    const silverflow = fleet.env.sandbox.silverflow;
    const keysBefore = silverflow.keys().length;
    const createsBefore = silverflow.requests.create;
    const rotate = (index: number) => fleet.call(index, "/api/ops/providers/silverflow/rotate", { caller: OPS, method: "POST" });
    const answers = await Promise.all([rotate(1), rotate(2)]);
    const bodies = await Promise.all(answers.map((r) => r.json() as Promise<any>));
    const byStatus = new Map(answers.map((r, i) => [r.status, bodies[i]]));
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 409], JSON.stringify(bodies));
    assert.equal(byStatus.get(200).outcome, "rotated");
    assert.equal(byStatus.get(409).code, "conflict");
    t.diagnostic(`the other instance answered: ${byStatus.get(409).detail}`);
    assert.equal(silverflow.requests.create - createsBefore, 1, "the partner created exactly one key");
    assert.equal(silverflow.keys().length, keysBefore + 1);
  });

  test("Redis holds no issued token, partner secret or data key in any key or value", async () => {
    // Every provider through every instance, so the store holds entries of every kind.
    const grants: [string, string[]][] = [
      [ORDERS, ["flowe", "flowe-servicebus", "kalibrate", "ayyeka", BURST, CRASH]],
      [PAYMENTS, ["silverflow", "silverflow-bearer", "phixflow"]],
    ];
    for (const [caller, providers] of grants) {
      const authorization = await fleet.authorization(caller);
      for (const provider of providers) {
        for (let i = 0; i < FLEET_SIZE; i++) assert.equal((await getToken(tokenUrl(i, provider), authorization)).status, 200, provider);
      }
    }
    const dataKey = (await new FileSecretStore(fleet.env.secretsDir, { clock: systemClock }).get(DEFAULT_CACHE_KEY_SECRET)).value;
    const partnerKeys = fleet.env.sandbox.silverflow.keys().map((k) => k.secret);
    const canaries = [...secretCanaries(Object.values(fleet.env.sandbox.secrets)), ...partnerKeys, ...issued, dataKey];
    assert.ok(issued.size >= 9, `only ${issued.size} issued values collected`);

    const client = createClient({ url: redis.url });
    await client.connect();
    const stored: string[] = [];
    let credentials = 0;
    try {
      for await (const batch of client.scanIterator({ COUNT: 100 })) {
        for (const key of batch) {
          stored.push(key);
          const type = await client.type(key);
          if (type === "string") {
            const value = (await client.get(key)) ?? "";
            stored.push(value);
            if (key.includes(":cred:")) {
              credentials++;
              assert.deepEqual(Object.keys(JSON.parse(value)).sort(), ["ct", "iv", "kid", "tag", "v"], "an encrypted envelope");
            }
          } else if (type === "hash") stored.push(...Object.entries(await client.hGetAll(key)).flat());
          else if (type === "set") stored.push(...(await client.sMembers(key)));
          else if (type === "list") stored.push(...(await client.lRange(key, 0, -1)));
          else if (type === "zset") stored.push(...(await client.zRange(key, 0, -1)));
          else if (type !== "none") assert.fail(`unexpected Redis type ${type} at ${key}`);
        }
      }
    } finally {
      client.destroy();
    }
    assert.ok(credentials >= 8, `only ${credentials} credential entries stored`);
    const dump = stored.join("\n");
    for (const canary of canaries) assert.ok(!dump.includes(canary), "a token, partner secret or the data key is readable in Redis");
  });

  test("requests keep succeeding while Redis is down, and shared caching resumes once it is back", async () => {
    const live = fleet.instances;
    const orders = await fleet.authorization(ORDERS);
    const payments = await fleet.authorization(PAYMENTS);
    const beforeOutage: [string, string][] = [
      [BURST, orders],
      ["flowe", orders],
      ["kalibrate", orders],
      [OUTAGE_WARM, orders],
      ["silverflow-bearer", payments],
    ];
    // First asked for while Redis is down: cold on every instance, fetched without coordination.
    const duringOutage: [string, string][] = [...beforeOutage, [OUTAGE_COLD, orders], ["flowe-servicebus", orders]];

    let redisDown = false;
    let stop = false;
    let sent = 0;
    let completed = 0;
    let completedWhileDown = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (!stop) {
        const n = sent++;
        const mix = redisDown ? duringOutage : beforeOutage;
        const [provider, authorization] = mix[n % mix.length]!;
        const answer = await getToken(tokenUrl(n % live.length, provider), authorization);
        if (answer.status !== 200) failures.push(`${provider}@${n % live.length}: ${answer.status} ${answer.error ?? ""}`);
        completed++;
        if (redisDown) completedWhileDown++;
      }
    };
    const workers = Array.from({ length: 12 }, worker);
    try {
      await waitUntil(() => completed >= 150, "150 requests with Redis up");
      await redis.kill();
      redisDown = true;
      await waitUntil(() => completedWhileDown >= 400, "400 requests with Redis down", 20_000);
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${completed} requests failed`);

    const sharedCache = async (index: number) => {
      const res = await fleet.call(index, "/api/ops/status", { caller: OPS });
      assert.equal(res.status, 200);
      return ((await res.json()) as any).shared_cache;
    };
    for (let i = 0; i < live.length; i++) assert.equal((await sharedCache(i)).healthy, false, "the instances noticed the outage");

    await redis.restart();
    await waitUntil(
      async () => (await Promise.all(live.map((_, i) => sharedCache(i)))).every((s) => s.healthy === true),
      "every instance reconnected to Redis",
      15_000,
    );
    const ayyeka = fleet.env.sandbox.ayyeka;
    const before = ayyeka.tokenRequests;
    ayyeka.faults.push({ delayMs: 500 });
    let answers: TokenAnswer[];
    try {
      answers = await Promise.all(Array.from({ length: 40 }, (_, i) => getToken(tokenUrl(i % live.length, RESUMED), orders)));
    } finally {
      ayyeka.faults.length = 0;
    }
    assert.deepEqual(
      answers.filter((a) => a.status !== 200),
      [],
    );
    assert.equal(new Set(answers.map((a) => a.token)).size, 1);
    assert.equal(ayyeka.tokenRequests - before, 1, "fleet-wide single-flight works again after the restart");
  });

  test("no secret, issued token or caller JWT appears in any broker process's log lines", () => {
    assert.equal(fleet.everyProcess.length, FLEET_SIZE + 1, "the killed instance's lines are included");
    const partnerKeys = fleet.env.sandbox.silverflow.keys().map((k) => k.secret);
    const canaries = [...secretCanaries(Object.values(fleet.env.sandbox.secrets)), ...partnerKeys, ...issued, ...fleet.callerTokens];
    assert.ok(canaries.length > 15, `only ${canaries.length} canaries`);
    const log = fleet.everyProcess.flatMap((b) => b.lines).join("\n");
    assert.ok(log.includes('"event":"token_issued"'), "audit lines present");
    for (const canary of canaries) assert.ok(!log.includes(canary), "a secret or token value reached a log line");
  });
});

/**
 * GET /api/ops/status for a fleet: a second fleet of four brokers (started after the first one
 * stopped, so the two never compete for the machine) publishes heartbeats every second, and any
 * instance answers for all.
 */
describe("fleet-wide operator status", { skip }, () => {
  let redis: RedisServer;
  let fleet: DemoFleet;
  /** Every status answer body. */
  const served: string[] = [];
  const tokensServed: string[] = [];
  /** An Ayyeka copy whose circuit opens on the first failed fetch. */
  const FRAGILE = "ayyeka-fragile";

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
    let body: any;
    await waitUntil(async () => {
      body = (await status(0, "?view=full")).body;
      return body.instances.length === FLEET_SIZE && body.instances.every((i: any) => !i.stale);
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
    tokensServed.push(body.access_token, body.headers.Authorization);
    let ayyeka: any;
    await waitUntil(async () => {
      ayyeka = (await status(0, "?provider=ayyeka")).body.providers[0];
      return ayyeka.fleet?.valid_on >= 1;
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
    let open: any;
    await waitUntil(async () => {
      open = (await status(3, "?state=circuit_open")).body;
      return open.providers.length > 0;
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
    const listed = (await status(0, "?view=full")).body.instances;
    const ids = [await idOf(2), await idOf(3)];
    await fleet.instances[3]!.kill();
    await fleet.instances[2]!.stop();
    let later: any;
    await waitUntil(async () => {
      later = (await status(0, "?view=full")).body;
      return later.instances.find((i: any) => i.id === ids[1])?.stale === true;
    }, "the killed instance marked stale", 15_000);
    assert.equal(listed.length, FLEET_SIZE);
    assert.equal(later.instances.length, FLEET_SIZE - 1, "the stopped instance removed its heartbeat");
    assert.equal(
      later.instances.some((i: any) => i.id === ids[0]),
      false,
    );
    assert.deepEqual(
      later.instances.map((i: any) => i.stale),
      [false, false, true],
    );
    assert.equal(later.providers.find((p: any) => p.provider === "ayyeka").fleet.valid_on, 1);
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
    const canaries = [...secretCanaries(Object.values(fleet.env.sandbox.secrets)), ...fleet.callerTokens, ...tokensServed];
    assert.ok(tokensServed.length > 0);
    const stored = [...served, ...heartbeats].join("\n");
    for (const canary of canaries) assert.ok(!stored.includes(canary), "a secret or token value in a status answer or heartbeat");
  });
});
