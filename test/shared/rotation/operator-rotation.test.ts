import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PhixflowSandbox } from "../../../dev/sandbox/phixflow.js";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { acceptedVersion, journalSecretName, readJournal } from "../../../shared/rotation/journal.js";
import { RotationService } from "../../../shared/rotation/rotation-service.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";
import { startPartnerServer } from "./rotation-harness.js";

const KEY = "phixflow-api-key";
const DAY = 86_400_000;

let server: Awaited<ReturnType<typeof startPartnerServer>>;
before(async () => {
  server = await startPartnerServer();
});
after(async () => {
  await server.close();
});

function setup(options: { probe: boolean }) {
  const clock = new ManualClock();
  const store = new MemorySecretStore(clock);
  const logger = new MemoryLogger();
  const partner = new PhixflowSandbox({ initialKeys: [`CANARY-K1-${Math.random().toString(36).slice(2)}`] });
  server.use(partner.handler);
  const promoted: string[] = [];
  const provider = ApiKeyProviderSchema.parse({
    kind: "api-key",
    key: { secret: KEY },
    scheme: "header",
    header: "Authorization",
    upstream: { timeoutMs: 1000, maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
    ...(options.probe ? { probe: { url: `${server.url}/phixflow/api/1/ping` } } : {}),
    rotation: { mode: "operator", maxAgeDays: 30, maxFailures: 2 },
  });
  const service = new RotationService({
    config: { providers: { phixflow: provider } },
    secrets: store,
    fetch: (input, init) => fetch(input, init),
    clock,
    sleeper: clock,
    random: () => 0.5,
    logger,
    lock: new InProcessLock(clock),
    onPromoted: async (p) => {
      promoted.push(p);
    },
  });
  const first = partner.keys()[0]!;
  const v1 = store.seed(KEY, first);
  const served = async () => acceptedVersion(await readJournal(store, KEY));
  const leaks = (outputs: unknown[]) => {
    const texts = [...logger.lines, ...outputs.map((o) => (o instanceof Error ? o.message + JSON.stringify(o) : JSON.stringify(o)))];
    return [...partner.keys(), ...store.versions(KEY).map((v) => v.value)].filter((secret) => texts.some((t) => t.includes(secret)));
  };
  return { clock, store, logger, partner, promoted, service, v1, served, leaks };
}

describe("operator-managed rotation (PhixFlow sandbox)", () => {
  test("without a probe the latest version is served at once; maintenance records it and drops cached tokens", async () => {
    const t = setup({ probe: false });
    assert.equal((await t.service.maintain("phixflow")).outcome, "accepted");
    assert.equal(await t.served(), undefined, "no pin: the source serves the latest version");
    const v2 = t.store.seed(KEY, t.partner.addKey());
    assert.equal(await t.served(), undefined);
    const pending = await t.service.status("phixflow");
    assert.equal(pending.phase, "pending");
    assert.equal(pending.pendingVersion, v2.version);
    const result = await t.service.maintain("phixflow");
    assert.equal(result.outcome, "accepted");
    assert.equal(result.acceptedVersion, v2.version);
    assert.equal(t.partner.requests.ping, 0, "no probe configured, none sent");
    assert.deepEqual(t.promoted, ["phixflow"]);
    const status = await t.service.status("phixflow");
    assert.equal(status.phase, "accepted");
    assert.equal(status.keyId, undefined);
    assert.match(status.keyFingerprint, /^sha256:/);
    assert.equal((await t.service.maintain("phixflow")).outcome, "no_change");
    assert.deepEqual(t.leaks([pending, result, status]), []);
  });

  test("with a probe a new version is served only once it passed the probe", async () => {
    const t = setup({ probe: true });
    await t.service.maintain("phixflow");
    assert.equal(await t.served(), t.v1.version, "the accepted version is pinned");
    const v2 = t.store.seed(KEY, t.partner.addKey());
    assert.equal(await t.served(), t.v1.version, "not served before the probe");
    const result = await t.service.maintain("phixflow");
    assert.equal(result.outcome, "accepted");
    assert.equal(t.partner.requests.ping, 2);
    assert.equal(await t.served(), v2.version);
    assert.deepEqual(t.promoted, ["phixflow"]);
  });

  test("a version that fails the probe keeps the previous one in service, records the error and needs attention", async () => {
    const t = setup({ probe: true });
    await t.service.maintain("phixflow");
    const bad = t.store.seed(KEY, "CANARY-not-a-valid-key");
    const outputs: unknown[] = [];
    const rejected = await t.service.maintain("phixflow");
    outputs.push(rejected);
    assert.equal(rejected.outcome, "rejected");
    assert.equal(await t.served(), t.v1.version, "the previous version stays in service");
    const status = await t.service.status("phixflow");
    outputs.push(status);
    assert.equal(status.phase, "rejected");
    assert.equal(status.pendingVersion, bad.version);
    assert.equal(status.acceptedVersion, t.v1.version);
    assert.equal(status.lastError?.code, "upstream_rejected");
    assert.equal(status.failures, 1);

    outputs.push(await t.service.maintain("phixflow"));
    assert.equal((await t.service.status("phixflow")).needsAttention, true);
    const probes = t.partner.requests.ping;
    const skipped = await t.service.maintain("phixflow");
    assert.equal(skipped.outcome, "skipped");
    assert.equal(t.partner.requests.ping, probes, "no automatic probing while it needs attention");
    const manual = await t.service.rotate("phixflow", { manual: true }).catch((error: unknown) => error);
    outputs.push(manual);
    assert.equal((manual as { code?: string }).code, "upstream_rejected");

    const good = t.store.seed(KEY, t.partner.addKey());
    const fixed = await t.service.maintain("phixflow");
    assert.equal(fixed.outcome, "accepted", "a newer version from the operator is tried again");
    assert.equal(await t.served(), good.version);
    const after = await t.service.status("phixflow");
    assert.equal(after.needsAttention, false);
    assert.equal(after.failures, 0);
    assert.deepEqual(t.leaks([...outputs, fixed, after]), []);
  });

  test("a probe that cannot reach the partner accepts nothing and keeps the served version", async () => {
    const t = setup({ probe: true });
    await t.service.maintain("phixflow");
    t.store.seed(KEY, t.partner.addKey());
    t.partner.faults.push({ status: 503 }, { status: 503 });
    const result = await t.service.maintain("phixflow");
    assert.equal(result.outcome, "failed");
    assert.equal(result.error?.code, "upstream_unavailable");
    assert.equal(await t.served(), t.v1.version);
  });

  test("status reports the key's age and marks it stale beyond maxAgeDays", async () => {
    const t = setup({ probe: false });
    await t.service.maintain("phixflow");
    t.clock.advance(29 * DAY);
    const fresh = await t.service.status("phixflow");
    assert.equal(fresh.keyAgeSec, 29 * 86_400);
    assert.equal(fresh.stale, false);
    assert.equal(fresh.maxAgeDays, 30);
    t.clock.advance(2 * DAY);
    assert.equal((await t.service.status("phixflow")).stale, true);
    t.store.seed(KEY, t.partner.addKey());
    await t.service.maintain("phixflow");
    const renewed = await t.service.status("phixflow");
    assert.equal(renewed.stale, false);
    assert.equal(renewed.keyAgeSec, 0);
  });

  test("a dry run shows the version that would be probed and accepted, without writing", async () => {
    const t = setup({ probe: true });
    const result = await t.service.rotate("phixflow", { manual: true, dryRun: true });
    assert.deepEqual(result.plan?.steps, [`probe version ${t.v1.version}`, `accept version ${t.v1.version}`]);
    assert.equal(t.partner.requests.ping, 0);
    assert.equal(await readJournal(t.store, KEY), undefined);
  });
  for (const phase of ["created", "verified"] as const) {
    test(`refuses to overwrite an open partner-api journal ("${phase}") after a switch to operator mode; status shows why`, async () => {
      const t = setup({ probe: false });
      const secret = `CANARY-new-key-${Math.random().toString(36).slice(2)}`;
      const open = JSON.stringify({
        v: 1,
        mode: "partner-api",
        phase,
        rotationId: "r1",
        markerName: "token-broker:phixflow:r1",
        oldKeyId: "apk-old",
        newKey: { id: "apk-new", secret },
        failures: 0,
        needsAttention: false,
        updatedAt: new Date(t.clock.now()).toISOString(),
      });
      const journalName = journalSecretName(KEY);
      t.store.seed(journalName, open);
      const result = await t.service.maintain("phixflow");
      assert.equal(result.outcome, "failed");
      assert.equal(result.error?.code, "conflict");
      assert.match(result.error?.detail ?? "", /partner-api/);
      const manual = await t.service.rotate("phixflow", { manual: true }).catch((error: unknown) => error);
      assert.equal((manual as { code?: string }).code, "conflict");
      assert.deepEqual(t.store.versions(journalName).map((v) => v.value), [open], "the journal (the new key's only copy) is untouched");
      const status = await t.service.status("phixflow");
      assert.equal(status.phase, "blocked_by_partner_journal");
      assert.equal(status.needsAttention, true);
      assert.equal(status.lastError?.code, "conflict");
      assert.deepEqual(t.promoted, []);
      const texts = [...t.logger.lines, JSON.stringify([result, status]), String(manual)];
      assert.ok(!texts.some((text) => text.includes(secret)), "the journal's secret appears nowhere");
      assert.deepEqual(t.leaks([result, status, manual]), []);
    });
  }

  test("an open partner-api journal is the conflict with reason journal_open, in the run's result and in the answer", async () => {
    const t = setup({ probe: false });
    const open = { v: 1, mode: "partner-api", phase: "creating", rotationId: "r1", failures: 0, needsAttention: false, updatedAt: new Date(t.clock.now()).toISOString() };
    t.store.seed(journalSecretName(KEY), JSON.stringify(open));
    const result = await t.service.maintain("phixflow");
    assert.equal(result.error?.code, "conflict");
    assert.equal(result.error?.reason, "journal_open");
    await assert.rejects(t.service.rotate("phixflow", { manual: true }), { code: "conflict", reason: "journal_open", detail: result.error?.detail });
  });

  test("a closed partner-api journal is replaced after a switch to operator mode", async () => {
    const t = setup({ probe: false });
    const journalName = journalSecretName(KEY);
    t.store.seed(journalName, JSON.stringify({ v: 1, mode: "partner-api", phase: "done", failures: 0, needsAttention: false, updatedAt: new Date(t.clock.now()).toISOString() }));
    assert.equal((await t.service.maintain("phixflow")).outcome, "accepted");
    assert.equal((await readJournal(t.store, KEY))?.mode, "operator");
  });
});
