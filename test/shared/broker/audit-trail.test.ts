import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { IssuedAuditTrail } from "../../../shared/broker/audit-trail.js";
import type { Sleeper } from "../../../shared/clock.js";
import type { AuditConfig } from "../../../shared/config/observability-schema.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import type { IssuedCredential } from "../../../shared/providers/credential.js";
import { ManualClock } from "../../support/manual-clock.js";

/** Sleeps that end only when the test says so (the summary interval elapsing). */
class HeldSleeper implements Sleeper {
  private readonly held: { ms: number; resolve: () => void; signal?: AbortSignal }[] = [];
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      this.held.push({ ms, resolve, signal });
    });
  }
  /** Never used by the audit trail; held like a sleep. */
  deadline(ms: number, signal: AbortSignal): Promise<void> {
    return this.sleep(ms, signal);
  }
  /** Sleeps still waiting (not aborted). */
  get waiting(): number[] {
    return this.held.filter((h) => !h.signal?.aborted).map((h) => h.ms);
  }
  async elapse(): Promise<void> {
    for (const h of this.held.splice(0)) h.resolve();
    await new Promise((r) => setImmediate(r));
  }
}

const CANARY = "CANARY-credential-value";

function credential(n: number, clock: ManualClock): IssuedCredential {
  const value = `${CANARY}-${n}`;
  return Object.freeze({
    tokenType: "Bearer",
    accessToken: value,
    headers: { Authorization: `Bearer ${value}` },
    issuedAt: clock.now(),
    expiresAt: clock.now() + 3_600_000,
    fingerprint: fingerprint(value),
  });
}

function setup(config: Partial<AuditConfig> = {}) {
  const clock = new ManualClock();
  const sleeper = new HeldSleeper();
  const logger = new MemoryLogger();
  const trail = new IssuedAuditTrail({
    logger,
    clock,
    sleeper,
    config: { mode: "summary", summaryIntervalSec: 60, maxTrackedPairs: 100, ...config },
  });
  return { clock, sleeper, logger, trail };
}

/** Every issuance counted once: single lines plus summary counts. */
function accounted(logger: MemoryLogger): number {
  return logger.events("token_issued").length + logger.events("token_issued_summary").reduce((n, s) => n + Number(s.count), 0);
}

describe("IssuedAuditTrail, summary mode", () => {
  it("writes the first issuance of a credential to a caller at once, then one summary per interval with count, first and last time", async () => {
    const { clock, sleeper, logger, trail } = setup();
    const cred = credential(1, clock);
    trail.issued("orders", "ayyeka", "miss", cred);
    assert.equal(logger.events("token_issued").length, 1, "the first issuance is written at once");
    const firstAt = clock.now() + 1_000;
    for (let i = 0; i < 500; i++) {
      clock.advance(i === 0 ? 1_000 : 10);
      trail.issued("orders", "ayyeka", "hit", cred);
    }
    assert.equal(logger.records.length, 1, "repeated hits wait for the summary");
    assert.deepEqual(sleeper.waiting, [60_000], "one interval timer");

    await sleeper.elapse();
    const [summary, ...more] = logger.events("token_issued_summary");
    assert.deepEqual(more, []);
    assert.deepEqual(summary, {
      caller: "orders",
      provider: "ayyeka",
      cache: "hit",
      fingerprint: cred.fingerprint,
      expires_at: new Date(cred.expiresAt).toISOString(),
      count: 500,
      first_at: new Date(firstAt).toISOString(),
      last_at: new Date(clock.now()).toISOString(),
    });

    // The next interval starts with the next hit; an idle trail arms no timer.
    assert.deepEqual(sleeper.waiting, []);
    trail.issued("orders", "ayyeka", "hit", cred);
    await sleeper.elapse();
    assert.deepEqual(
      logger.events("token_issued_summary").map((s) => s.count),
      [500, 1],
    );
    assert.equal(accounted(logger), 502);
  });

  it("keeps callers, credentials and outcomes apart, and a new credential is written at once again", async () => {
    const { clock, sleeper, logger, trail } = setup();
    const first = credential(1, clock);
    const second = credential(2, clock);
    for (const caller of ["orders", "billing"]) {
      trail.issued(caller, "ayyeka", "shared", first);
      trail.issued(caller, "ayyeka", "hit", first);
      trail.issued(caller, "ayyeka", "hit", first);
    }
    trail.issued("orders", "ayyeka", "miss", second);
    trail.issued("orders", "ayyeka", "hit", second);
    assert.deepEqual(
      logger.events("token_issued").map((f) => [f.caller, f.cache, f.fingerprint]),
      [
        ["orders", "shared", first.fingerprint],
        ["billing", "shared", first.fingerprint],
        ["orders", "miss", second.fingerprint],
      ],
    );
    await sleeper.elapse();
    assert.deepEqual(
      logger.events("token_issued_summary").map((f) => [f.caller, f.fingerprint, f.count]),
      [
        ["orders", first.fingerprint, 2],
        ["billing", first.fingerprint, 2],
        ["orders", second.fingerprint, 1],
      ],
    );
    assert.equal(accounted(logger), 8);
    for (const record of [...logger.events("token_issued"), ...logger.events("token_issued_summary")]) {
      for (const field of ["caller", "provider", "cache", "fingerprint"]) assert.ok(record[field], `${field} in every record`);
    }
    assert.ok(!logger.lines.join("\n").includes(CANARY), "a credential value reached the audit");
  });

  it("bounds the pending counters: reaching maxTrackedPairs writes every pending summary at once", () => {
    const { clock, logger, trail } = setup({ maxTrackedPairs: 3 });
    const creds = Array.from({ length: 7 }, (_, i) => credential(i, clock));
    for (const cred of creds) {
      trail.issued("orders", "ayyeka", "miss", cred);
      trail.issued("orders", "ayyeka", "hit", cred);
      assert.ok(trail.trackedPairs <= 3, `${trail.trackedPairs} pending counters`);
    }
    assert.deepEqual(
      logger.events("token_issued_summary").map((s) => s.fingerprint),
      creds.slice(0, 6).map((c) => c.fingerprint),
      "two early flushes of three summaries",
    );
    assert.equal(trail.trackedPairs, 1);
    assert.equal(accounted(logger), 13, "the seventh hit is still pending");
  });

  it("close() writes pending summaries, aborts the timer, and audits later issuances one line each", () => {
    const { clock, sleeper, logger, trail } = setup();
    const cred = credential(1, clock);
    trail.issued("orders", "ayyeka", "miss", cred);
    trail.issued("orders", "ayyeka", "hit", cred);
    trail.issued("orders", "ayyeka", "hit", cred);
    trail.close();
    assert.deepEqual(
      logger.events("token_issued_summary").map((s) => s.count),
      [2],
    );
    assert.deepEqual(sleeper.waiting, [], "no timer left to keep the process alive");
    trail.issued("orders", "ayyeka", "hit", cred);
    assert.equal(logger.events("token_issued").length, 2, "an issuance during shutdown is written at once");
    assert.equal(accounted(logger), 4);
  });
});

describe("IssuedAuditTrail, per-hit mode", () => {
  it("writes one token_issued line for every issuance and never a summary", async () => {
    const { clock, sleeper, logger, trail } = setup({ mode: "per-hit" });
    const cred = credential(1, clock);
    trail.issued("orders", "ayyeka", "miss", cred);
    for (let i = 0; i < 20; i++) trail.issued("orders", "ayyeka", "hit", cred);
    assert.deepEqual(sleeper.waiting, []);
    await sleeper.elapse();
    trail.close();
    assert.equal(logger.events("token_issued").length, 21);
    assert.deepEqual(logger.events("token_issued_summary"), []);
    assert.deepEqual(
      [...new Set(logger.events("token_issued").map((f) => f.cache))],
      ["miss", "hit"],
    );
  });
});
