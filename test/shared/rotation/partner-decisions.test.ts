import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { PartnerJournal } from "../../../shared/rotation/journal.js";
import type { PartnerKey } from "../../../shared/rotation/key-api.js";
import {
  mustRetirePrevious,
  ownOrphans,
  protectedKeyIds,
  rotationVerdict,
  wantsRotation,
  type RotationFacts,
} from "../../../shared/rotation/partner-decisions.js";
import { dueAt, isDue } from "../../../shared/rotation/schedule.js";
import type { StoredKey } from "../../../shared/rotation/stored-key.js";

const key: StoredKey = { id: "cur", secret: "s", createdAt: 0, version: "v1", previous: { id: "prev", secret: "p", retireAt: 1_000 } };
const journal = (extra: Partial<PartnerJournal> = {}): PartnerJournal => ({
  v: 1,
  mode: "partner-api",
  phase: "idle",
  failures: 0,
  needsAttention: false,
  updatedAt: "1970-01-01T00:00:00.000Z",
  ...extra,
});
const partnerKey = (id: string, name?: string): PartnerKey => ({ id, name, fields: {} });

describe("partner rotation decisions", () => {
  test("a key is due once the interval has passed since it was made", () => {
    assert.equal(dueAt(1_000, { intervalHours: 1 }), 3_601_000);
    assert.equal(isDue(1_000, 3_600_999, { intervalHours: 1 }), false);
    assert.equal(isDue(1_000, 3_601_000, { intervalHours: 1 }), true);
  });

  test("protects the current, previous, every tagged and the in-flight key, unless the in-flight key is the one judged", () => {
    const j = journal({ newKey: { id: "new", secret: "n" } });
    assert.deepEqual([...protectedKeyIds(key, j, new Set(["old-tagged"]))].sort(), ["cur", "new", "old-tagged", "prev"]);
    assert.deepEqual([...protectedKeyIds(key, j, new Set(["old-tagged"]), { inFlight: false })].sort(), ["cur", "old-tagged", "prev"]);
    // A tag protects the in-flight key even when it is the one judged.
    assert.ok(protectedKeyIds(key, j, new Set(["new"]), { inFlight: false }).has("new"));
  });

  test("orphans are this deployment's marked keys that nothing protects; foreign keys never are", () => {
    const keys = [partnerKey("cur", "tb:p:1"), partnerKey("a", "tb:p:2"), partnerKey("b", "someone-else"), partnerKey("c")];
    assert.deepEqual(
      ownOrphans(keys, "tb:p:", protectedKeyIds(key, journal(), new Set())).map((k) => k.id),
      ["a"],
    );
  });

  test("retires the previous key past its grace period, or when a retirement of it was interrupted", () => {
    assert.equal(mustRetirePrevious(key, journal(), 999), false);
    assert.equal(mustRetirePrevious(key, journal(), 1_000), true);
    assert.equal(mustRetirePrevious(key, journal({ phase: "retiring", retireKeyId: "prev" }), 0), true);
    assert.equal(mustRetirePrevious({ ...key, previous: undefined }, journal(), 5_000), false);
  });

  test("a failure counts as an attempt when an operator asked, or the key is due and rotation not stopped", () => {
    assert.equal(wantsRotation(true, false, journal({ needsAttention: true })), true);
    assert.equal(wantsRotation(false, true, journal()), true);
    assert.equal(wantsRotation(false, true, journal({ needsAttention: true })), false);
    assert.equal(wantsRotation(false, false, journal()), false);
  });

  test("rotates when due or asked, and otherwise names the first thing that holds it back", () => {
    const ready: RotationFacts = { manual: false, due: true, needsAttention: false, previousPending: false, keysLeft: 1, maxKeys: 2, currentListed: true };
    assert.equal(rotationVerdict(ready), "rotate");
    assert.equal(rotationVerdict({ ...ready, due: false }), "not_due");
    assert.equal(rotationVerdict({ ...ready, due: false, manual: true }), "rotate");
    assert.equal(rotationVerdict({ ...ready, needsAttention: true }), "needs_attention");
    assert.equal(rotationVerdict({ ...ready, needsAttention: true, manual: true }), "rotate");
    assert.equal(rotationVerdict({ ...ready, needsAttention: true, manual: true, previousPending: true }), "previous_pending");
    assert.equal(rotationVerdict({ ...ready, keysLeft: 2 }), "key_limit_reached");
    assert.equal(rotationVerdict({ ...ready, keysLeft: 2, currentListed: false }), "key_limit_reached");
    assert.equal(rotationVerdict({ ...ready, currentListed: false }), "current_key_not_listed");
  });
});
