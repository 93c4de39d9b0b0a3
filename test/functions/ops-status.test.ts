import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";

/** GET /api/ops/status on a single instance without Redis, through the local host. */
let demo: DemoBroker;

before(async () => {
  demo = await startDemoBroker({ edit: (raw) => (raw.status = { summaryAbove: 3 }) });
});

after(async () => {
  await demo?.close();
});

async function status(query = ""): Promise<any> {
  const res = await demo.call(`/api/ops/status${query}`, { caller: "ops-console" });
  assert.equal(res.status, 200, query);
  return res.json();
}

describe("operator status without Redis", () => {
  test("says it shows one instance, and lists that one", async () => {
    const body = await status();
    assert.equal(body.scope, "instance");
    assert.match(body.note, /Redis is off.*one instance/);
    assert.equal(body.shared_cache, "off");
    assert.equal(body.instances.length, 1);
    assert.equal(body.instances[0].self, true);
    assert.equal(body.instances[0].version, "0.1.0");
  });

  test("summary by default above status.summaryAbove; filters and ?view=full give the list", async () => {
    assert.equal((await demo.call("/api/token/ayyeka", { caller: "orders-service" })).status, 200);
    const configured = Object.keys(demo.env.config.providers).length;
    const summary = await status();
    assert.equal(summary.view, "summary");
    assert.equal(summary.providers, undefined);
    assert.equal(summary.summary.providers, configured);
    assert.ok(summary.summary.valid >= 1);

    const valid = await status("?state=valid");
    assert.equal(valid.view, "full");
    assert.ok(valid.providers.some((p: any) => p.provider === "ayyeka"));
    assert.ok(valid.providers.every((p: any) => p.states.includes("valid") && p.token.state === "valid"));
    assert.equal(valid.providers[0].fleet, undefined, "no fleet block for a single instance");

    const two = await status("?provider=ayyeka,phixflow");
    assert.deepEqual(
      two.providers.map((p: any) => p.provider),
      ["ayyeka", "phixflow"],
    );
    assert.equal(two.providers[1].rotation.mode, "operator");

    const cold = await status("?provider=flowe&state=valid");
    assert.deepEqual(cold.providers, [], "both filters apply");
    assert.equal(cold.summary.providers, 0);

    assert.equal((await status("?view=full")).providers.length, configured);
  });

  test("a bad filter is a 400 and is audited as such", async () => {
    const res = await demo.call("/api/ops/status?state=broken", { caller: "ops-console" });
    assert.equal(res.status, 400);
    assert.match((await res.json() as any).detail, /state must be a comma-separated list of: valid, expired, cold, circuit_open, needs_attention, failing/);
    await demo.broker.waitForLine(/"event":"admin_action".*"action":"status".*"outcome":"bad_request"/);
  });
});
