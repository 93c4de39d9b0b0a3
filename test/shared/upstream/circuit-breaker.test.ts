import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CircuitBreaker } from "../../../shared/upstream/circuit-breaker.js";
import { ManualClock } from "../../support/manual-clock.js";

function breaker() {
  const clock = new ManualClock();
  return { clock, breaker: new CircuitBreaker(clock, 3, 30_000) };
}

describe("CircuitBreaker", () => {
  it("stays closed below the failure threshold", () => {
    const { breaker: b } = breaker();
    b.onFailure();
    b.onFailure();
    assert.equal(b.state, "closed");
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.blockedForMs(), 0);
  });

  it("opens after the threshold of consecutive failures and fails fast", () => {
    const { breaker: b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.onFailure();
    assert.equal(b.state, "open");
    assert.equal(b.tryAcquire(), false);
    clock.advance(10_000);
    assert.equal(b.blockedForMs(), 20_000);
  });

  it("a success resets the count of consecutive failures", () => {
    const { breaker: b } = breaker();
    b.onFailure();
    b.onFailure();
    b.onSuccess();
    b.onFailure();
    b.onFailure();
    assert.equal(b.state, "closed");
  });

  it("half-opens after openMs and lets exactly one trial through", () => {
    const { breaker: b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.onFailure();
    clock.advance(30_000);
    assert.equal(b.state, "half-open");
    assert.equal(b.blockedForMs(), 0);
    assert.equal(b.tryAcquire(), true);
    assert.equal(b.tryAcquire(), false, "a second caller must wait for the trial");
    assert.ok(b.blockedForMs() > 0);
  });

  it("closes when the trial succeeds", () => {
    const { breaker: b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.onFailure();
    clock.advance(30_000);
    b.tryAcquire();
    b.onSuccess();
    assert.equal(b.state, "closed");
    assert.equal(b.tryAcquire(), true);
  });

  it("re-opens for a full period when the trial fails", () => {
    const { breaker: b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.onFailure();
    clock.advance(30_000);
    b.tryAcquire();
    b.onFailure();
    assert.equal(b.state, "open");
    assert.equal(b.blockedForMs(), 30_000);
    clock.advance(29_999);
    assert.equal(b.tryAcquire(), false);
    clock.advance(1);
    assert.equal(b.tryAcquire(), true);
  });

  it("a released trial lets the next caller try without closing the circuit", () => {
    const { breaker: b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.onFailure();
    clock.advance(30_000);
    assert.equal(b.tryAcquire(), true);
    b.release();
    assert.equal(b.state, "half-open");
    assert.equal(b.tryAcquire(), true);
  });
});
