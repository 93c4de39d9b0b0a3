import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { computeRefreshAt, type RefreshPolicy } from "../../../shared/tokens/refresh-schedule.js";

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const DEFAULTS: RefreshPolicy = { refreshAheadFraction: 0.75, refreshFloorSec: 120, jitterSec: 30 };
const SEC = 1000;

function credential(lifetimeSec: number) {
  return { issuedAt: T0, expiresAt: T0 + lifetimeSec * SEC };
}

describe("computeRefreshAt", () => {
  it("refreshes after the configured fraction of a long lifetime", () => {
    assert.equal(computeRefreshAt(credential(3600), DEFAULTS, () => 0), T0 + 2700 * SEC);
  });

  it("subtracts up to jitterSec of random spread", () => {
    assert.equal(computeRefreshAt(credential(3600), DEFAULTS, () => 0.5), T0 + 2685 * SEC);
    assert.equal(computeRefreshAt(credential(3600), DEFAULTS, () => 0.999999), T0 + 2670 * SEC);
  });

  it("keeps every jittered time within [target - jitter, target]", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 1000; i++) {
      const at = computeRefreshAt(credential(3600), DEFAULTS, random);
      assert.ok(at >= T0 + 2670 * SEC && at <= T0 + 2700 * SEC, `out of bounds: ${at - T0} ms`);
    }
  });

  it("refreshes at least refreshFloorSec before expiry when the fraction would be later", () => {
    // 300 s: the fraction says 225 s, the floor says 180 s.
    assert.equal(computeRefreshAt(credential(300), DEFAULTS, () => 0), T0 + 180 * SEC);
    assert.equal(computeRefreshAt(credential(300), { ...DEFAULTS, jitterSec: 0 }, () => 0.9), T0 + 180 * SEC);
  });

  it("still uses part of a lifetime shorter than the floor instead of refreshing at once", () => {
    // 60 s with a 120 s floor: the floor can only pull the refresh forward to half of 45 s,
    // and the jitter can only take half of that.
    assert.equal(computeRefreshAt(credential(60), DEFAULTS, () => 0), T0 + 22_500);
    assert.equal(computeRefreshAt(credential(60), DEFAULTS, () => 1), T0 + 11_250);
    for (const lifetime of [1, 2, 10, 59, 119, 120, 121, 479, 480]) {
      for (const r of [0, 0.3, 0.99]) {
        const at = computeRefreshAt(credential(lifetime), DEFAULTS, () => r);
        assert.ok(at > T0, `lifetime ${lifetime}: refresh at issuedAt`);
        assert.ok(at < T0 + lifetime * SEC, `lifetime ${lifetime}: refresh not before expiry`);
      }
    }
  });

  it("never schedules before issuedAt for a zero, negative or nonsense lifetime", () => {
    assert.equal(computeRefreshAt({ issuedAt: T0, expiresAt: T0 }, DEFAULTS, () => 0.5), T0);
    assert.equal(computeRefreshAt({ issuedAt: T0, expiresAt: T0 - 5000 }, DEFAULTS, () => 0.5), T0);
    assert.equal(computeRefreshAt({ issuedAt: T0, expiresAt: Number.NaN }, DEFAULTS, () => 0.5), T0);
  });

  it("treats a random source outside [0, 1] as its nearest bound", () => {
    assert.equal(computeRefreshAt(credential(3600), DEFAULTS, () => Number.NaN), T0 + 2700 * SEC);
    assert.equal(computeRefreshAt(credential(3600), DEFAULTS, () => -3), T0 + 2700 * SEC);
    assert.equal(computeRefreshAt(credential(3600), DEFAULTS, () => 7), T0 + 2670 * SEC);
  });

  it("honours a small refresh-ahead fraction", () => {
    assert.equal(computeRefreshAt(credential(1000), { refreshAheadFraction: 0.1, refreshFloorSec: 0, jitterSec: 0 }, () => 0), T0 + 100 * SEC);
  });
});
