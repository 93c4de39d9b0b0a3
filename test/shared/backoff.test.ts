import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { backoffDelay } from "../../shared/backoff.js";

describe("backoffDelay", () => {
  test("doubles from the base after each failure and stops at the cap", () => {
    const policy = { baseMs: 100, maxMs: 1_000, jitter: "none" } as const;
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n)), [100, 200, 400, 800, 1_000, 1_000]);
  });

  test("full jitter spreads the delay over [0, cap)", () => {
    const policy = { baseMs: 100, maxMs: 1_000, jitter: "full" } as const;
    assert.equal(backoffDelay(policy, 3, () => 0), 0);
    assert.equal(backoffDelay(policy, 3, () => 0.5), 200);
    assert.equal(backoffDelay(policy, 9, () => 0.25), 250);
  });

  test("equal jitter never goes below half the capped delay", () => {
    const policy = { baseMs: 100, maxMs: 1_000, jitter: "equal" } as const;
    assert.equal(backoffDelay(policy, 3, () => 0), 200);
    assert.equal(backoffDelay(policy, 3, () => 1), 400);
    assert.equal(backoffDelay(policy, 20, () => 0.5), 750);
  });

  test("jitter without a random source is the capped delay", () => {
    assert.equal(backoffDelay({ baseMs: 50, maxMs: 5_000, jitter: "equal" }, 4), 400);
  });

  test("maxDoublings stops the growth below the cap, and a huge attempt count stays finite", () => {
    const policy = { baseMs: 1, maxMs: Number.MAX_SAFE_INTEGER, jitter: "none", maxDoublings: 3 } as const;
    assert.equal(backoffDelay(policy, 100), 8);
    assert.equal(backoffDelay({ baseMs: 50, maxMs: 5_000, jitter: "none" }, 5_000), 5_000);
  });

  test("attempt 0 or below waits the base delay", () => {
    assert.equal(backoffDelay({ baseMs: 50, maxMs: 5_000, jitter: "none" }, 0), 50);
  });
});
