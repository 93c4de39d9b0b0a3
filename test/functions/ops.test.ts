import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { FileSecretStore } from "../../shared/secrets/file-store.js";
import { systemClock } from "../../functions/system.js";
import { secretCanaries } from "../support/canaries.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";
import { waitUntil } from "../support/wait-until.js";

/** Operator routes and the maintenance timer, end to end through the local host and sandbox. */
let demo: DemoBroker;
const responses: string[] = [];

before(async () => {
  demo = await startDemoBroker({
    edit: (raw) => {
      // Keys propagate instantly in the sandbox; keep verification quick.
      raw.providers.silverflow.rotation.verify = { attempts: 3, delayMs: 100 };
      // A short grace period lets the test rotate several times (the previous key must be retired
      // first); the grace must cover the credential lifetime served, so that is short too.
      raw.providers.silverflow.rotation.graceMinutes = 0.05;
      raw.providers.silverflow.cache = { defaultTtlSec: 2 };
      raw.secrets.cacheTtlSec = 1;
      raw.secrets.maxStaleSec = 0;
      raw.defaultMinTtlSec = 0;
    },
  });
});

after(async () => {
  await demo?.close();
});

async function body(res: Response): Promise<any> {
  const text = await res.text();
  responses.push(text);
  return JSON.parse(text);
}

const charges = (authorization: string) =>
  fetch(`${demo.env.sandbox.url}/silverflow/charges`, { headers: { authorization } }).then((r) => r.status);

describe("operator routes", () => {
  const routes: [string, string][] = [
    ["GET", "/api/ops/status"],
    ["POST", "/api/ops/providers/kalibrate/refresh"],
    ["POST", "/api/ops/providers/silverflow/rotate"],
  ];

  test("are 401 without a caller token and 403 for callers without the operator role", async () => {
    for (const [method, path] of routes) {
      assert.equal((await demo.call(path, { method })).status, 401, path);
      for (const caller of ["orders-service", "payments-service"]) {
        const res = await demo.call(path, { method, caller });
        assert.equal(res.status, 403, `${caller} ${path}`);
        assert.equal((await body(res)).code, "caller_forbidden");
      }
    }
  });

  test("status lists every provider with metadata only", async () => {
    await demo.call("/api/token/ayyeka", { caller: "orders-service" });
    const status = await body(await demo.call("/api/ops/status", { caller: "ops-console" }));
    const byName = Object.fromEntries(status.providers.map((p: any) => [p.provider, p]));
    assert.deepEqual(Object.keys(byName).sort(), Object.keys(demo.env.config.providers).sort());
    assert.equal(byName.ayyeka.token.state, "valid");
    assert.match(byName.ayyeka.token.fingerprint, /^sha256:[0-9a-f]{12}$/);
    assert.equal(byName.ayyeka.circuit, "closed");
    assert.equal(byName.flowe.token.state, "cold");
    assert.equal(byName.silverflow.rotation.mode, "partner-api");
    assert.match(byName.silverflow.rotation.keyId, /^apk-/);
    assert.equal(byName.phixflow.rotation.mode, "operator");
  });

  test("refresh fetches a new token from the partner at once", async () => {
    const first = await body(await demo.call("/api/token/kalibrate", { caller: "orders-service" }));
    const authority = demo.env.sandbox.authority;
    const before = authority.tokenRequests;
    const refreshed = await body(await demo.call("/api/ops/providers/kalibrate/refresh", { caller: "ops-console", method: "POST" }));
    assert.equal(authority.tokenRequests, before + 1, "exactly one new token request (no SDK cache answer)");
    assert.equal(refreshed.provider, "kalibrate");
    assert.equal(refreshed.access_token, undefined);
    const served = await body(await demo.call("/api/token/kalibrate", { caller: "orders-service" }));
    assert.notEqual(served.access_token, first.access_token);
    assert.equal(authority.tokenRequests, before + 1, "the refreshed token is served from the cache");
  });

  test("rotate: dry run changes nothing; a rotation promotes a new key and keeps the old one working until retire", async () => {
    const silverflow = demo.env.sandbox.silverflow;
    const keysBefore = silverflow.keys().length;
    const dry = await body(await demo.call("/api/ops/providers/silverflow/rotate?dry_run=true", { caller: "ops-console", method: "POST" }));
    assert.equal(dry.outcome, "dry_run");
    assert.ok(dry.plan.steps.length > 0);
    assert.equal(silverflow.keys().length, keysBefore);

    const old = (await body(await demo.call("/api/token/silverflow", { caller: "payments-service" }))).headers.Authorization;
    const rotated = await body(await demo.call("/api/ops/providers/silverflow/rotate", { caller: "ops-console", method: "POST" }));
    assert.equal(rotated.outcome, "rotated");
    const now = (await body(await demo.call("/api/token/silverflow", { caller: "payments-service" }))).headers.Authorization;
    assert.notEqual(now, old, "the new key is served at once after promotion");
    assert.equal(await charges(now), 200);
    assert.equal(await charges(old), 200, "the previous key works until its retire time");

    const status = await body(await demo.call("/api/ops/status", { caller: "ops-console" }));
    const rotation = status.providers.find((p: any) => p.provider === "silverflow").rotation;
    assert.equal(rotation.keyId, rotated.keyId);
    assert.equal(rotation.previousKeyId, rotated.previousKeyId);
    assert.ok(Date.parse(rotation.retireAt) > Date.now(), "retire time in the future");

    const again = await demo.call("/api/ops/providers/silverflow/rotate", { caller: "ops-console", method: "POST" });
    assert.equal(again.status, 409, "no second rotation while the previous key is in its grace period");
    const refused = await body(again);
    assert.match(refused.detail, /grace period/);
    assert.equal(refused.reason, "previous_pending");
    await waitUntil(() => demo.broker.lines.some((l) => l.includes('"admin_action"') && l.includes('"reason":"previous_pending"')), "the refusal's admin_action line");
  });

  test("a reader hammering the token route during rotations always gets a working credential", async () => {
    let stop = false;
    let checked = 0;
    const failures: string[] = [];
    const reader = async () => {
      while (!stop) {
        const res = await demo.call("/api/token/silverflow", { caller: "payments-service" });
        if (res.status !== 200) failures.push(`broker ${res.status}`);
        else {
          const status = await charges((await body(res)).headers.Authorization);
          if (status !== 200) failures.push(`partner ${status}`);
        }
        checked++;
      }
    };
    const readers = [reader(), reader(), reader()];
    let rotations = 0;
    for (let i = 0; i < 3; i++) {
      // Past the grace period, the maintenance timer retires the previous key; then rotate again.
      await new Promise((r) => setTimeout(r, 3100));
      await demo.broker.invoke("maintenance");
      const res = await demo.call("/api/ops/providers/silverflow/rotate", { caller: "ops-console", method: "POST" });
      assert.equal(res.status, 200, JSON.stringify(await res.clone().json()));
      if ((await body(res)).outcome === "rotated") rotations++;
    }
    stop = true;
    await Promise.all(readers);
    assert.deepEqual(failures, []);
    assert.equal(rotations, 3);
    assert.ok(checked > 20, `only ${checked} reads`);
  });

  test("clear 4xx for bad operator requests", async () => {
    const ops = { caller: "ops-console", method: "POST" };
    assert.equal((await demo.call("/api/ops/providers/kalibrate/rotate", ops)).status, 400);
    assert.equal((await demo.call("/api/ops/providers/nope/rotate", ops)).status, 404);
    assert.equal((await demo.call("/api/ops/providers/nope/refresh", ops)).status, 404);
    assert.equal((await demo.call("/api/ops/providers/silverflow/rotate?dry_run=maybe", ops)).status, 400);
  });
});

describe("operator-managed rotation (PhixFlow)", () => {
  test("a new key version is served only once verified; a bad one is rejected and the accepted one stays", async () => {
    const store = new FileSecretStore(demo.env.secretsDir, { clock: systemClock });
    const served = async () => (await body(await demo.call("/api/token/phixflow", { caller: "payments-service" }))).headers.Authorization;
    await demo.broker.invoke("maintenance"); // accepts the current version after its probe
    const v1 = await served();

    const v2 = demo.env.sandbox.phixflow.addKey();
    await store.set("phixflow-api-key", v2);
    assert.equal(await served(), v1, "an unverified version is not served");
    const accepted = await body(await demo.call("/api/ops/providers/phixflow/rotate", { caller: "ops-console", method: "POST" }));
    assert.equal(accepted.outcome, "accepted");
    assert.equal(await served(), v2);

    await store.set("phixflow-api-key", "pfx_not-a-key-the-partner-knows");
    const res = await demo.call("/api/ops/providers/phixflow/rotate", { caller: "ops-console", method: "POST" });
    assert.equal(res.status, 502);
    const rejected = await body(res);
    assert.equal(rejected.code, "upstream_rejected");
    assert.match(rejected.detail, /previous version stays in use/);
    assert.equal(await served(), v2, "the last accepted key keeps being served");
    const status = await body(await demo.call("/api/ops/status", { caller: "ops-console" }));
    const rotation = status.providers.find((p: any) => p.provider === "phixflow").rotation;
    assert.ok(rotation.pendingVersion, "the rejected version is reported as pending");
    assert.equal(rotation.stale, false);
  });
});

describe("maintenance timer", () => {
  test("pre-warms providers marked prewarm and logs one summary per provider", async () => {
    const res = await fetch(`${demo.broker.url}/admin/functions/maintenance`, { method: "POST", body: "{}" });
    assert.equal(res.status, 202);
    await demo.broker.waitForLine(/"event":"maintenance_summary".*"provider":"phixflow"/);
    const names = Object.keys(demo.env.config.providers);
    for (const name of names) {
      await demo.broker.waitForLine(new RegExp(`"event":"maintenance_summary".*"provider":"${name}"`));
    }
    const status = await body(await demo.call("/api/ops/status", { caller: "ops-console" }));
    const flowe = status.providers.find((p: any) => p.provider === "flowe");
    assert.equal(flowe.token.state, "valid", "flowe is marked prewarm");
  });
});

describe("secrets never leak from operator routes", () => {
  test("no secret or token value in any operator response or log line", async () => {
    const keys = demo.env.sandbox.silverflow.keys().map((k: any) => k.secret as string);
    const canaries = secretCanaries([...Object.values(demo.env.sandbox.secrets), ...keys]);
    const adminText = responses.filter((r) => !r.includes('"access_token"') && !r.includes('"headers"')).join("\n");
    const log = demo.broker.lines.join("\n");
    for (const canary of canaries) {
      assert.ok(!adminText.includes(canary), "secret in an operator response");
      assert.ok(!log.includes(canary), "secret in the log");
    }
  });
});
