import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UpstreamPolicy } from "../../../shared/config/schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { UpstreamFailure } from "../../../shared/upstream/upstream-failure.js";
import { rejectsWith } from "../../support/assertions.js";
import { ManualClock } from "../../support/manual-clock.js";

const POLICY: UpstreamPolicy = {
  timeoutMs: 1000,
  maxAttempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 3000,
  maxRetryAfterSec: 10,
  breakerFailures: 2,
  breakerOpenSec: 30,
};

function setup(policy: Partial<UpstreamPolicy> = {}, random = () => 0.5) {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const caller = new UpstreamCaller("acme", { ...POLICY, ...policy }, { clock, sleeper: clock, random, logger });
  return { clock, logger, caller };
}

/** An attempt that plays scripted outcomes in order and counts its calls. */
function script(...outcomes: (unknown | Error)[]) {
  const fn = async () => {
    fn.calls++;
    const next = outcomes.shift();
    if (next instanceof Error) throw next;
    return next;
  };
  fn.calls = 0;
  return fn;
}

const transient = (retryAfterSec?: number) => new UpstreamFailure("transient", "HTTP 503", { status: 503, retryAfterSec });


describe("UpstreamCaller", () => {
  it("returns the first successful attempt without sleeping", async () => {
    const { caller, clock } = setup();
    assert.equal(await caller.run(script("ok")), "ok");
    assert.deepEqual(clock.sleeps, []);
  });

  it("retries transient failures with jittered exponential back-off", async () => {
    const { caller, clock } = setup({ maxAttempts: 3 }, () => 0.5);
    const attempt = script(transient(), transient(), "ok");
    assert.equal(await caller.run(attempt), "ok");
    assert.equal(attempt.calls, 3);
    assert.deepEqual(clock.sleeps, [100, 200]); // 0.5 x 200, 0.5 x 400
  });

  it("caps one retry delay at maxDelayMs", async () => {
    const { caller, clock } = setup({ maxAttempts: 4, maxDelayMs: 300 }, () => 1);
    await caller.run(script(transient(), transient(), transient(), "ok"));
    assert.deepEqual(clock.sleeps, [200, 300, 300]);
  });

  it("waits at least the partner's Retry-After", async () => {
    const { caller, clock } = setup();
    await caller.run(script(transient(2), "ok"));
    assert.deepEqual(clock.sleeps, [2000]);
  });

  it("fails fast with the partner's Retry-After when it exceeds the cap", async () => {
    const { caller, clock } = setup({ maxRetryAfterSec: 10 });
    const attempt = script(transient(60), "ok");
    const error = await rejectsWith(caller.run(attempt), "upstream_unavailable");
    assert.equal(error.retryAfterSec, 60);
    assert.equal(attempt.calls, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  it("honours the partner's Retry-After on the following requests too, then calls again", async () => {
    const { caller, clock } = setup({ maxRetryAfterSec: 10, breakerFailures: 100 });
    const attempt = script(transient(120), "ok");
    await rejectsWith(caller.run(attempt), "upstream_unavailable");
    clock.advance(1_000);
    const waiting = await rejectsWith(caller.run(attempt), "upstream_unavailable");
    assert.equal(waiting.retryAfterSec, 119, "callers are told how long is left");
    assert.equal(attempt.calls, 1, "no partner call inside its Retry-After window");
    clock.advance(119_000);
    assert.equal(await caller.run(attempt), "ok");
    assert.equal(attempt.calls, 2);
  });

  it("gives up after maxAttempts with upstream_unavailable and a default Retry-After", async () => {
    const { caller } = setup({ maxAttempts: 3, breakerFailures: 5 });
    const attempt = script(transient(), transient(), transient(), "never");
    const error = await rejectsWith(caller.run(attempt), "upstream_unavailable");
    assert.equal(attempt.calls, 3);
    assert.equal(error.retryAfterSec, 5);
  });

  it("treats unknown errors (network) as transient and retries them", async () => {
    const { caller } = setup();
    const attempt = script(new TypeError("fetch failed"), "ok");
    assert.equal(await caller.run(attempt), "ok");
    assert.equal(attempt.calls, 2);
  });

  it("never retries a rejection and reports upstream_rejected", async () => {
    const { caller, clock } = setup();
    const attempt = script(new UpstreamFailure("rejected", "HTTP 401 (invalid_client)", { status: 401 }), "ok");
    const error = await rejectsWith(caller.run(attempt), "upstream_rejected");
    assert.equal(attempt.calls, 1);
    assert.deepEqual(clock.sleeps, []);
    assert.match(error.detail, /HTTP 401 \(invalid_client\)/);
  });

  it("never retries an unusable answer and reports upstream_rejected", async () => {
    const { caller } = setup();
    const attempt = script(new UpstreamFailure("invalid", "HTTP 200 (response is not JSON)"), "ok");
    await rejectsWith(caller.run(attempt), "upstream_rejected");
    assert.equal(attempt.calls, 1);
  });

  it("rejections do not open the circuit", async () => {
    const { caller } = setup({ breakerFailures: 2 });
    for (let i = 0; i < 5; i++) {
      await rejectsWith(caller.run(script(new UpstreamFailure("rejected", "HTTP 401"))), "upstream_rejected");
    }
    assert.equal(caller.breaker.state, "closed");
  });

  it("times attempts with the injected sleeper: while the clock stands still no attempt times out", async () => {
    const { caller, clock } = setup({ timeoutMs: 20, maxAttempts: 1 });
    // Slower in real time than the timeout, but no time passes on the clock.
    const slow = () => new Promise<string>((resolve) => setTimeout(() => resolve("answer"), 60));
    assert.equal(await caller.run(slow), "answer");
    assert.equal(clock.pendingTimers, 0, "the timeout's timer is cancelled once the attempt settles");
  });

  it("aborts an attempt that exceeds the timeout and reports upstream_unavailable", async () => {
    const { caller, clock } = setup({ timeoutMs: 20, maxAttempts: 2 });
    const signals: AbortSignal[] = [];
    // Like a hung socket, the pending attempt holds the event loop open; 20 ms then pass on the clock.
    const hang = (signal: AbortSignal) => {
      signals.push(signal);
      setImmediate(() => clock.advance(20));
      const socket = setInterval(() => {}, 1000);
      return new Promise<never>((_, reject) =>
        signal.addEventListener("abort", () => {
          clearInterval(socket);
          reject(signal.reason);
        }),
      );
    };
    const error = await rejectsWith(caller.run(hang), "upstream_unavailable");
    assert.match(error.detail, /timed out after 20 ms/);
    assert.equal(signals.length, 2);
    assert.ok(signals.every((s) => s.aborted));
  });

  it("opens the circuit after breakerFailures failed calls, then half-opens after breakerOpenSec", async () => {
    const { caller, clock } = setup({ maxAttempts: 1, breakerFailures: 2, breakerOpenSec: 30 });
    await rejectsWith(caller.run(script(transient())), "upstream_unavailable");
    await rejectsWith(caller.run(script(transient())), "upstream_unavailable");
    assert.equal(caller.breaker.state, "open");

    const blocked = script("ok");
    const error = await rejectsWith(caller.run(blocked), "upstream_unavailable");
    assert.equal(blocked.calls, 0, "an open circuit must not call the partner");
    assert.equal(error.retryAfterSec, 30);
    assert.match(error.detail, /circuit open/);

    clock.advance(30_000);
    assert.equal(caller.breaker.state, "half-open");
    assert.equal(await caller.run(script("ok")), "ok");
    assert.equal(caller.breaker.state, "closed");
  });

  it("lets one trial through while half-open and fails the others fast", async () => {
    const { caller, clock } = setup({ maxAttempts: 1, breakerFailures: 1 });
    await rejectsWith(caller.run(script(transient())), "upstream_unavailable");
    clock.advance(30_000);
    let release!: (v: string) => void;
    const trial = caller.run(() => new Promise<string>((resolve) => (release = resolve)));
    const other = script("ok");
    await rejectsWith(caller.run(other), "upstream_unavailable");
    assert.equal(other.calls, 0);
    release("ok");
    assert.equal(await trial, "ok");
    assert.equal(caller.breaker.state, "closed");
  });

  it("passes a BrokerError from the attempt through without retrying or counting it", async () => {
    const { caller, clock } = setup({ maxAttempts: 3, breakerFailures: 1 });
    await rejectsWith(caller.run(script(transient(), transient(), transient())), "upstream_unavailable");
    clock.advance(30_000); // half-open: this call is the trial
    const own = new BrokerError("secret_unavailable", "Secret store unreachable.");
    const attempt = script(own, "ok");
    await assert.rejects(caller.run(attempt), (e) => e === own);
    assert.equal(attempt.calls, 1);
    assert.equal(caller.breaker.state, "half-open");
    assert.equal(await caller.run(script("ok")), "ok", "the trial must have been released");
  });

  it("stops when the caller cancels, without counting a partner failure", async () => {
    const { caller } = setup({ maxAttempts: 3, breakerFailures: 1 });
    const outer = new AbortController();
    const attempt = (signal: AbortSignal) =>
      new Promise<never>((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason));
        outer.abort(new Error("caller went away"));
      });
    const error = await rejectsWith(caller.run(attempt, outer.signal), "upstream_unavailable");
    assert.match(error.detail, /cancelled/);
    assert.equal(caller.breaker.state, "closed");
  });

  it("logs each failed attempt without error messages", async () => {
    const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
    const { caller, logger } = setup({ maxAttempts: 2, breakerFailures: 5 });
    await rejectsWith(caller.run(script(new Error(`connect to https://x?key=${canary}`), transient())), "upstream_unavailable");
    const events = logger.events("upstream_attempt_failed");
    assert.deepEqual(
      events.map((e) => [e.attempt, e.kind, e.summary]),
      [
        [1, "transient", "network error"],
        [2, "transient", "HTTP 503"],
      ],
    );
    assert.ok(!logger.lines.some((l) => l.includes(canary)));
  });
});
