import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { planSigningKeys, type KeyVersionInfo } from "../../../shared/signing/signing-key-plan.js";

const MIN = 60_000;
const policy = { publishOverlapMs: 60 * MIN, inUseMs: 10 * MIN, intervalMs: 30 * 24 * 60 * MIN };
const v = (version: string, createdOn: number, enabled = true): KeyVersionInfo => ({ version, createdOn, enabled });

describe("planSigningKeys", () => {
  test("a single fresh version signs at once (nothing older to prefer)", () => {
    assert.deepEqual(planSigningKeys([v("a", 0)], 1, policy), { signing: "a", publish: ["a"], create: false, retire: [] });
  });

  test("a new version is published but does not sign before the overlap", () => {
    const plan = planSigningKeys([v("old", 0), v("new", 100 * MIN)], 130 * MIN, policy);
    assert.equal(plan.signing, "old");
    assert.deepEqual(plan.publish, ["new", "old"]);
    assert.deepEqual(plan.retire, []);
  });

  test("the previous version stays published until its successor has signed for as long as an assertion lives", () => {
    const versions = [v("old", 0), v("new", 100 * MIN)];
    assert.deepEqual(planSigningKeys(versions, 165 * MIN, policy).publish, ["new", "old"]);
    const later = planSigningKeys(versions, 171 * MIN, policy);
    assert.equal(later.signing, "new");
    assert.deepEqual(later.publish, ["new"]);
    assert.deepEqual(later.retire, ["old"]);
  });

  test("disabled versions neither sign nor publish; creation is due after the interval, never without a policy", () => {
    const versions = [v("old", 0), v("gone", 10 * MIN, false)];
    const plan = planSigningKeys(versions, policy.intervalMs, policy);
    assert.deepEqual(plan, { signing: "old", publish: ["old"], create: true, retire: [] });
    assert.equal(planSigningKeys(versions, policy.intervalMs, { ...policy, intervalMs: undefined }).create, false);
    assert.deepEqual(planSigningKeys([], 0, policy), { signing: undefined, publish: [], create: true, retire: [] });
  });
});
