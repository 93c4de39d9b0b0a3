import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UpstreamPolicy } from "../../../shared/config/provider-base-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { UpstreamCaller } from "../../../shared/upstream/upstream-caller.js";
import { UpstreamFailure } from "../../../shared/upstream/upstream-failure.js";
import { rejectsWith } from "../../support/assertions.js";
import { inMemoryTelemetry } from "../../support/in-memory-telemetry.js";
import { ManualClock } from "../../support/manual-clock.js";

const POLICY: UpstreamPolicy = {
  timeoutMs: 1000,
  deadlineMs: 60_000,
  maxAttempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 3000,
  maxRetryAfterSec: 10,
  maxThrottleSec: 300,
  maxResponseBytes: 65_536,
  maxTokenBytes: 16_384,
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

/** An attempt that never answers until its signal aborts, like a hung partner; records its signals. */
function hanging() {
  const signals: AbortSignal[] = [];
  const fn = (signal: AbortSignal) => {
    signals.push(signal);
    return new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
  };
  return { fn, signals };
}

/** Lets pending promise callbacks and I/O run until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(condition(), "condition never held");
}


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
    assert.equal(clock.pendingDeadlines, 0, "the timeout's timer is cancelled once the attempt settles");
  });

  it("aborts an attempt that exceeds the timeout and reports upstream_unavailable", async () => {
    const { caller, clock } = setup({ timeoutMs: 20, maxAttempts: 2 });
    const { fn, signals } = hanging();
    const running = rejectsWith(caller.run(fn), "upstream_unavailable");
    for (let n = 1; n <= 2; n++) {
      await until(() => signals.length === n && clock.pendingDeadlines === 1);
      clock.advance(20);
    }
    const error = await running;
    assert.match(error.detail, /timed out after 20 ms/);
    assert.equal(signals.length, 2);
    assert.ok(signals.every((s) => s.aborted));
  });

  it("answers within one overall deadline across attempts and retry delays", async () => {
    const { caller, clock } = setup({ timeoutMs: 5000, deadlineMs: 10_000, maxAttempts: 3, breakerFailures: 5 });
    const { fn, signals } = hanging();
    const started = clock.now();
    const running = rejectsWith(caller.run(fn), "upstream_unavailable");
    await until(() => signals.length === 1 && clock.pendingDeadlines === 1);
    clock.advance(5000);
    // After a 100 ms back-off the second attempt only gets what is left of the 10 s.
    await until(() => signals.length === 2 && clock.pendingDeadlines === 1);
    clock.advance(4900);
    const error = await running;
    assert.equal(signals.length, 2, "no third attempt past the deadline");
    assert.equal(clock.now() - started, 10_000);
    assert.match(error.detail, /timed out after 4900 ms/);
  });

  it("does not wait out a Retry-After that would pass the deadline", async () => {
    const { caller, clock } = setup({ deadlineMs: 5000, maxRetryAfterSec: 10 });
    const attempt = script(transient(8), "ok");
    const error = await rejectsWith(caller.run(attempt), "upstream_unavailable");
    assert.equal(attempt.calls, 1);
    assert.deepEqual(clock.sleeps, []);
    assert.equal(error.retryAfterSec, 8);
  });

  it("caps a stored Retry-After at maxThrottleSec and reports when it ends", async () => {
    const { caller, clock } = setup({ maxThrottleSec: 300, breakerFailures: 100 });
    const attempt = script(transient(99_999_999), "ok");
    const first = await rejectsWith(caller.run(attempt), "upstream_unavailable");
    assert.equal(first.retryAfterSec, 300, "callers are never told to wait longer than the cap");
    assert.equal(caller.throttledUntil(), clock.now() + 300_000);
    const waiting = await rejectsWith(caller.run(attempt), "upstream_unavailable");
    assert.equal(waiting.retryAfterSec, 300);
    clock.advance(300_000);
    assert.equal(caller.throttledUntil(), undefined);
    assert.equal(await caller.run(attempt), "ok", "the partner is called again once the capped wait is over");
  });

  it("sends only whole seconds within the cap, whatever the partner's Retry-After", async () => {
    for (const retryAfter of [1e23, Number.MAX_VALUE, 2.2]) {
      const { caller } = setup({ maxAttempts: 1, maxThrottleSec: 120, breakerFailures: 100 });
      const error = await rejectsWith(caller.run(script(transient(retryAfter))), "upstream_unavailable");
      assert.ok(Number.isInteger(error.retryAfterSec) && error.retryAfterSec! >= 1 && error.retryAfterSec! <= 120, String(error.retryAfterSec));
      const gate = await rejectsWith(caller.run(script("ok")), "upstream_unavailable");
      assert.ok(Number.isInteger(gate.retryAfterSec) && gate.retryAfterSec! <= 120, String(gate.retryAfterSec));
    }
  });

  it("lets an immediate (operator) call through a stored Retry-After and an open circuit", async () => {
    const { caller } = setup({ maxAttempts: 1, breakerFailures: 1 });
    await rejectsWith(caller.run(script(transient(200))), "upstream_unavailable");
    assert.equal(caller.breaker.state, "open");
    const attempt = script("ok", "ok");
    await rejectsWith(caller.run(attempt), "upstream_unavailable");
    assert.equal(attempt.calls, 0);
    assert.equal(await caller.run(attempt, { immediate: true }), "ok");
    assert.equal(caller.breaker.state, "closed");
    assert.equal(caller.throttledUntil(), undefined, "a success ends the throttle");
    assert.equal(await caller.run(attempt), "ok");
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
    const error = await rejectsWith(caller.run(attempt, { signal: outer.signal }), "upstream_unavailable");
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

describe("UpstreamCaller telemetry", () => {
  it("one span per partner call, one child per attempt with its number and why the previous failed", async () => {
    const t = inMemoryTelemetry();
    const clock = new ManualClock();
    const caller = new UpstreamCaller("acme", POLICY, { clock, sleeper: clock, random: () => 0.5, logger: new MemoryLogger(), telemetry: t.telemetry });
    assert.equal(await caller.run(script(transient(), "token")), "token");
    const attempts = t.spans().filter((s) => s.name === "token_broker.partner.attempt");
    const call = t.spans().find((s) => s.name === "token_broker.partner.fetch");
    assert.deepEqual(
      attempts.map((s) => [s.attributes.attempt, s.attributes["retry.reason"], s.parentSpanContext?.spanId]),
      [
        [1, undefined, call?.spanContext().spanId],
        [2, "transient: HTTP 503", call?.spanContext().spanId],
      ],
    );
    assert.equal(attempts[0]?.attributes["error.type"], "UpstreamFailure");
    assert.equal(call?.attributes.outcome, "success");
    assert.deepEqual(
      (await t.points("token_broker.partner.fetch.failures")).map((p) => [p.attributes.kind, p.value]),
      [["transient", 1]],
    );
    const duration = await t.points("token_broker.partner.fetch.duration");
    assert.deepEqual(duration.map((p) => [p.attributes.outcome, (p.value as { count: number }).count]), [["success", 1]]);
  });

  it("counts calls refused by the open circuit and reports the circuit and Retry-After", async () => {
    const t = inMemoryTelemetry();
    const clock = new ManualClock();
    const caller = new UpstreamCaller("acme", { ...POLICY, maxAttempts: 1 }, { clock, sleeper: clock, random: () => 0.5, logger: new MemoryLogger(), telemetry: t.telemetry });
    await rejectsWith(caller.run(script(transient())), "upstream_unavailable");
    await rejectsWith(caller.run(script(transient(7))), "upstream_unavailable");
    assert.equal(caller.throttledForMs(), 7000);
    clock.advance(8000);
    await rejectsWith(caller.run(script("never")), "upstream_unavailable");
    const failures = await t.points("token_broker.partner.fetch.failures");
    assert.deepEqual(failures.map((p) => [p.attributes.kind, p.value]), [
      ["transient", 2],
      ["circuit_open", 1],
    ]);
    const outcomes = (await t.points("token_broker.partner.fetch.duration")).map((p) => p.attributes.outcome);
    assert.deepEqual(outcomes, ["upstream_unavailable"]);
  });
});
