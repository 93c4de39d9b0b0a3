import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RotationSchema, expandKeyApi } from "../../../shared/config/rotation-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { KeyLimitReachedError, type PartnerKeyApi } from "../../../shared/rotation/key-api.js";
import type { PartnerJournal } from "../../../shared/rotation/journal.js";
import { LeaseLostError, NORMAL_WRITE } from "../../../shared/rotation/leased-writer.js";
import { PartnerRunState } from "../../../shared/rotation/partner-run-state.js";
import { parseStoredKey } from "../../../shared/rotation/stored-key.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

const KEY = "p-api-key";
const JOURNAL = "p-api-key-rotation";

async function setup(journal: Partial<PartnerJournal> = {}) {
  const clock = new ManualClock();
  const store = new MemorySecretStore(clock);
  const logger = new MemoryLogger();
  const lock = new InProcessLock(clock);
  const lease = (await lock.tryAcquire("rotation:p", 60_000))!;
  const deleted: string[] = [];
  const keyApi = {
    delete: async (_auth: unknown, id: string) => {
      deleted.push(id);
      return "deleted" as const;
    },
  } as unknown as PartnerKeyApi;
  const rotation = RotationSchema.parse({ mode: "partner-api", maxFailures: 2, keyApi: { preset: "silverflow", baseUrl: "https://partner.test" } });
  const settings = { provider: "p", keySecretName: KEY, journalName: JOURNAL, marker: "token-broker:p:", rotation, spec: expandKeyApi(rotation.keyApi!) };
  const deps = { secrets: store, clock, sleeper: clock, random: () => 0.5, logger, keyApi, onPromoted: async () => {}, newRotationId: () => "r1" };
  const state = new PartnerRunState(settings, deps, lease);
  const start: PartnerJournal = { v: 1, mode: "partner-api", phase: "idle", failures: 0, needsAttention: false, updatedAt: "2026-01-01T00:00:00.000Z", ...journal };
  await state.load({
    loadJournal: async () => start,
    loadKey: async () => ({ id: "apk-current", secret: "CANARY-current", createdAt: 0, previous: { id: "apk-old", secret: "CANARY-old", retireAt: 10 }, version: "v0" }),
    taggedKeyIds: async () => new Set(),
  });
  const written = () => store.versions(JOURNAL).map((v) => JSON.parse(v.value) as PartnerJournal);
  return { clock, store, logger, lock, lease, state, deleted, written };
}

describe("PartnerRunState", () => {
  test("writes the journal stamped with the time and the lease's fencing token, and keeps what it wrote", async () => {
    const t = await setup();
    t.clock.advance(5_000);
    await t.state.writeJournal({ ...t.state.journal, phase: "creating" }, NORMAL_WRITE);
    const [stored] = t.written();
    assert.equal(stored?.phase, "creating");
    assert.equal(stored?.updatedAt, new Date(t.clock.now()).toISOString());
    assert.equal(stored?.fencingToken, t.lease.fencingToken);
    assert.deepEqual(t.state.journal, stored);
    assert.deepEqual(t.store.latest(JOURNAL)?.tags, { purpose: "rotation-journal", provider: "p" });
  });

  test("writes a key secret version tagged with its key id, and keeps it with the version written", async () => {
    const t = await setup();
    const version = await t.state.writeKey({ id: "apk-new", secret: "CANARY-new", createdAt: 1_000, rotationId: "r1" }, NORMAL_WRITE);
    const latest = t.store.latest(KEY)!;
    assert.equal(version, latest.version);
    assert.deepEqual(latest.tags, { keyId: "apk-new", "managed-by": "token-broker", rotationId: "r1" });
    assert.deepEqual(t.state.key, parseStoredKey(latest));
  });

  test("writes and deletes nothing once the lease is lost", async () => {
    const t = await setup();
    t.clock.advance(60_000);
    await t.lock.tryAcquire("rotation:p", 60_000);
    await assert.rejects(t.state.writeJournal({ ...t.state.journal, phase: "creating" }, NORMAL_WRITE), LeaseLostError);
    await assert.rejects(t.state.deleteAtPartner("apk-old", "retired"), LeaseLostError);
    assert.deepEqual(t.written(), []);
    assert.deepEqual(t.deleted, []);
  });

  test("never deletes the current key at the partner", async () => {
    const t = await setup();
    await assert.rejects(t.state.deleteAtPartner("apk-current", "orphan"), { code: "internal" });
    await t.state.deleteAtPartner("apk-old", "retired");
    assert.deepEqual(t.deleted, ["apk-old"]);
    assert.deepEqual(t.logger.events("rotation_key_deleted"), [{ provider: "p", key_id: "apk-old", reason: "retired", result: "deleted" }]);
  });

  test("a failed rotation attempt counts; at maxFailures automatic rotation stops (needs_attention)", async () => {
    const t = await setup({ failures: 1 });
    const failure = new BrokerError("upstream_rejected", "The partner refused the create (HTTP 403).");
    await t.state.recordFailure(failure, failure, true);
    const [stored] = t.written();
    assert.equal(stored?.failures, 2);
    assert.equal(stored?.needsAttention, true);
    assert.deepEqual(stored?.lastError, { code: "upstream_rejected", detail: failure.detail, at: new Date(t.clock.now()).toISOString() });
    assert.deepEqual(
      t.logger.events("rotation_failed").map((f) => f.code),
      ["upstream_rejected"],
    );
  });

  test("the failure that reaches maxFailures writes one rotation_needs_attention line; later ones none", async () => {
    const t = await setup();
    const failure = new BrokerError("upstream_rejected", "The partner refused the create (HTTP 403).");
    for (let i = 0; i < 3; i++) await t.state.recordFailure(failure, failure, true);
    assert.deepEqual(t.logger.events("rotation_needs_attention"), [{ provider: "p", failures: 2 }]);
  });

  test("a full key account is recorded in the journal as key_limit_reached, as it always was", async () => {
    const t = await setup();
    const failure = new KeyLimitReachedError("p");
    await t.state.recordFailure(failure, failure, true);
    assert.equal(t.written()[0]?.lastError?.code, "key_limit_reached");
    assert.equal(t.logger.events("rotation_failed")[0]?.code, "key_limit_reached");
  });

  test("a failure that is no rotation attempt is recorded once, without counting", async () => {
    const t = await setup();
    const failure = new BrokerError("secret_unavailable", "The secret store failed (HTTP 503).");
    await t.state.recordFailure(failure, failure, false);
    await t.state.recordFailure(failure, failure, false);
    assert.equal(t.written().length, 1);
    assert.equal(t.written()[0]?.failures, 0);
    assert.equal(t.logger.events("rotation_failed").length, 2);
  });

  test("a lost lease is logged, not recorded: the journal is the next holder's", async () => {
    const t = await setup();
    const failure = new LeaseLostError("p");
    await t.state.recordFailure(failure, failure, true);
    assert.deepEqual(t.written(), []);
    assert.equal(t.logger.events("rotation_failed")[0]?.code, "conflict");
  });

  test("a failure the journal cannot take is logged as not recorded", async () => {
    const t = await setup();
    t.store.faults.push({ op: "set", kind: "error", times: NORMAL_WRITE.attempts });
    const failure = new BrokerError("upstream_rejected", "refused");
    await t.state.recordFailure(failure, failure, true);
    assert.deepEqual(t.written(), []);
    assert.equal(t.logger.events("rotation_failure_not_recorded").length, 1);
  });

  test("reports the key, its previous key and a failure with its conflict reason", async () => {
    const t = await setup();
    assert.deepEqual(t.state.result("key_limit_reached", new KeyLimitReachedError("p")), {
      provider: "p",
      mode: "partner-api",
      outcome: "key_limit_reached",
      actions: [],
      keyId: "apk-current",
      previousKeyId: "apk-old",
      retireAt: "1970-01-01T00:00:00.010Z",
      error: { code: "conflict", detail: `The partner's API key limit for "p" is reached; delete unused keys at the partner.`, reason: "key_limit_reached" },
    });
    await t.state.writeJournal({ ...t.state.journal, phase: "creating" }, NORMAL_WRITE);
    t.state.actions.push("started:r1");
    assert.deepEqual(t.state.result("rotated").actions, ["started:r1"]);
    assert.equal(t.state.result("rotated").error, undefined);
  });
});
