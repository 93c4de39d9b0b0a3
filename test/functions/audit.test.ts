import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { secretCanaries } from "../support/canaries.js";
import { startDemoBroker, type DemoBroker } from "../support/demo-broker.js";

/**
 * The token_issued audit in both modes, through the local Functions host: every issuance is
 * accounted for, and a graceful stop (the host's appTerminate hook) writes pending summaries.
 */
const HITS = 40;

const started: DemoBroker[] = [];
after(async () => {
  await Promise.all(started.map((d) => d.close()));
});

async function brokerWithAudit(audit: Record<string, unknown>): Promise<DemoBroker> {
  const demo = await startDemoBroker({ edit: (raw) => (raw.audit = audit) });
  started.push(demo);
  return demo;
}

/** The parsed token_issued and token_issued_summary lines of a broker process. */
function auditRecords(demo: DemoBroker): { issued: any[]; summaries: any[] } {
  const records = demo.broker.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  return {
    issued: records.filter((r) => r.event === "token_issued"),
    summaries: records.filter((r) => r.event === "token_issued_summary"),
  };
}

async function issue(demo: DemoBroker, caller: string, provider: string, values: Set<string>): Promise<void> {
  const res = await demo.call(`/api/token/${provider}`, { caller });
  assert.equal(res.status, 200, provider);
  const body = (await res.json()) as any;
  for (const value of [body.access_token, ...Object.values(body.headers)]) if (typeof value === "string") values.add(value);
}

describe("token_issued audit through the local host", () => {
  test("summary mode: the first issuance at once, the rest counted; a graceful stop writes the pending summary", async () => {
    // An interval far longer than the test: only the stop can write the summary.
    const demo = await brokerWithAudit({ mode: "summary", summaryIntervalSec: 3600 });
    const values = new Set<string>();
    for (let i = 0; i < HITS; i++) await issue(demo, "orders-service", "ayyeka", values);
    await issue(demo, "payments-service", "phixflow", values);
    await demo.broker.waitForLine(/"event":"token_issued".*"provider":"phixflow"/);
    assert.deepEqual(auditRecords(demo).summaries, [], "no summary before the interval or the stop");

    await demo.broker.stop();
    const { issued, summaries } = auditRecords(demo);
    assert.deepEqual(
      issued.map((r) => [r.caller, r.provider]),
      [
        ["orders-service", "ayyeka"],
        ["payments-service", "phixflow"],
      ],
    );
    assert.equal(summaries.length, 1, JSON.stringify(summaries));
    const [summary] = summaries;
    assert.deepEqual(
      { caller: summary.caller, provider: summary.provider, cache: summary.cache, fingerprint: summary.fingerprint, count: summary.count },
      { caller: "orders-service", provider: "ayyeka", cache: "hit", fingerprint: issued[0].fingerprint, count: HITS - 1 },
    );
    assert.ok(Date.parse(summary.first_at) <= Date.parse(summary.last_at));
    const log = demo.broker.lines.join("\n");
    for (const canary of [...values, ...secretCanaries(Object.values(demo.env.sandbox.secrets))]) {
      assert.ok(!log.includes(canary), "a credential or secret value reached the audit");
    }
  });

  test("per-hit mode: one token_issued line for every credential served", async () => {
    const demo = await brokerWithAudit({ mode: "per-hit" });
    const values = new Set<string>();
    for (let i = 0; i < HITS; i++) await issue(demo, "orders-service", "ayyeka", values);
    await demo.broker.stop();
    const { issued, summaries } = auditRecords(demo);
    assert.equal(issued.length, HITS);
    assert.deepEqual(summaries, []);
    assert.deepEqual(
      issued.map((r) => r.cache),
      ["miss", ...Array<string>(HITS - 1).fill("hit")],
    );
  });
});
