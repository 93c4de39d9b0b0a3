import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ProviderStatus } from "../../../shared/broker/admin-service.js";
import { FleetStatus, type StatusInput } from "../../../shared/broker/fleet-status.js";
import type { StatusQuery } from "../../../shared/broker/status-query.js";
import type { Heartbeat, RedisHeartbeats } from "../../../shared/cache/heartbeat.js";
import type { ProviderRuntime } from "../../../shared/providers/source-registry.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { TokenCache } from "../../../shared/tokens/token-cache.js";
import { ManualClock } from "../../support/manual-clock.js";

const NAMES = ["p1", "p2", "p3", "p4", "p5"];
/** The manual clock's time in every test. */
const now = new ManualClock().now();

/** The heartbeats other instances left in Redis (undefined: Redis could not be read). */
class FixedHeartbeats {
  constructor(public beats: Heartbeat[] | undefined) {}
  async read() {
    return this.beats;
  }
}

function local(name: string, extra: Partial<ProviderStatus> = {}): ProviderStatus {
  return { provider: name, kind: "oauth2", token: { state: "cold", refreshing: false }, ...extra };
}

function setup(options: { beats?: Heartbeat[] | undefined; redis?: boolean; summaryAbove?: number } = {}) {
  const clock = new ManualClock();
  const providers = new Map<string, ProviderRuntime>(NAMES.map((n) => [n, { source: { provider: n, prepare: async () => assert.fail() } }]));
  const status = new FleetStatus({
    self: { id: "self", startedAt: clock.now() - 60_000, version: "1.0.0" },
    clock,
    config: { heartbeatSec: 30, staleAfterSec: 90, summaryAbove: options.summaryAbove ?? 200 },
    providers,
    cache: new TokenCache({ clock, random: () => 0.5, logger: new MemoryLogger() }),
    heartbeats: options.redis === false ? undefined : (new FixedHeartbeats(options.beats) as unknown as RedisHeartbeats),
    sharedCache: options.redis === false ? undefined : () => ({ healthy: true, commandClientReady: true, subscriberReady: true, degradedOperations: 0, degradedByOperation: {}, connectionErrors: 0, reconnects: 0 }),
  });
  const statuses = [
    ...NAMES.slice(0, 4).map((n) => local(n)),
    local("p5", {
      kind: "api-key",
      rotation: { provider: "p5", mode: "partner-api", keyFingerprint: "sha256:000000000000", keyCreatedAt: "", keyAgeSec: 1, phase: "idle", nextDueAt: "", failures: 3, needsAttention: true },
    }),
  ];
  return { status, statuses };
}

/** The route's input for these statuses (all of them described, as this instance sees them). */
function input(statuses: ProviderStatus[], query: StatusQuery, configured: number): StatusInput {
  const byName = new Map(statuses.map((p) => [p.provider, p]));
  return {
    names: [...byName.keys()],
    configured,
    query,
    rotation: (name) => byName.get(name)!.rotation,
    describe: (name) => structuredClone(byName.get(name)!),
  };
}

function otherBeat(instance: string, publishedAt: number, providers: Heartbeat["providers"]): Heartbeat {
  return { v: 1, instance, started_at: publishedAt - 600_000, version: "1.0.0", published_at: publishedAt, degraded: instance === "b", providers };
}

describe("FleetStatus", () => {
  it("merges the live instances' heartbeats per provider and leaves stale instances out", async () => {
    const { status, statuses } = setup({
      beats: [
      otherBeat("b", now - 10_000, {
        p1: { expires_at: now + 600_000, last_refresh_at: now - 60_000 },
        p2: { circuit: "open", last_error: { code: "upstream_unavailable", at: now - 5_000 } },
        p3: { expires_at: now - 1_000, last_refresh_at: now - 3_600_000, last_error: { code: "upstream_rejected", at: now - 1_000 } },
      }),
      otherBeat("c", now - 91_000, { p4: { expires_at: now + 600_000 } }),
      ],
    });
    const report = await status.report(input(statuses, {}, NAMES.length));
    assert.equal(report.scope, "fleet");
    assert.equal(report.note, undefined);
    assert.deepEqual(
      report.instances.map((i) => [i.id, i.self, i.stale, i.degraded]),
      [
        ["self", true, false, false],
        ["b", false, false, true],
        ["c", false, true, false],
      ],
    );
    const byName = Object.fromEntries(report.providers!.map((p) => [p.provider, p]));
    assert.deepEqual(byName.p1!.states, ["valid"], "valid on another instance counts as valid");
    assert.equal(byName.p1!.fleet!.valid_on, 1);
    assert.deepEqual(byName.p2!.states, ["cold", "circuit_open", "failing"]);
    assert.deepEqual(byName.p2!.fleet!.circuit_open_on, ["b"]);
    assert.deepEqual(byName.p2!.fleet!.last_error, { code: "upstream_unavailable", at: new Date(now - 5_000).toISOString(), instance: "b" });
    assert.deepEqual(byName.p3!.states, ["expired", "failing"]);
    assert.deepEqual(byName.p4!.states, ["cold"], "a stale instance's token is not counted");
    assert.equal(byName.p4!.fleet, undefined, "no fleet block where no live instance reports anything");
    assert.deepEqual(byName.p5!.states, ["cold", "needs_attention"]);
    assert.deepEqual(report.summary, { providers: 5, valid: 1, expired: 1, cold: 3, circuit_open: 1, needs_attention: 1, failing: 2 });
  });

  it("filters by state (any of several), and counts only what matches", async () => {
    const { status, statuses } = setup({ beats: [otherBeat("b", now, { p2: { circuit: "half-open" } })] });
    const report = await status.report(input(statuses, { states: ["needs_attention", "circuit_open"] }, NAMES.length));
    assert.deepEqual(
      report.providers!.map((p) => p.provider),
      ["p2", "p5"],
    );
    assert.equal(report.summary.providers, 2);
    assert.deepEqual(report.filters, { providers: undefined, states: ["needs_attention", "circuit_open"] });
  });

  it("answers counts only above summaryAbove unless asked for the full view or filtered", async () => {
    const { status, statuses } = setup({ beats: [], summaryAbove: 4 });
    const summary = await status.report(input(statuses, {}, NAMES.length));
    assert.equal(summary.view, "summary");
    assert.equal(summary.providers, undefined);
    assert.match(summary.hint!, /view=full/);
    assert.equal(summary.summary.providers, 5);
    const full = await status.report(input(statuses, { view: "full" }, NAMES.length));
    assert.equal(full.providers!.length, 5);
    assert.equal(full.hint, undefined);
    const filtered = await status.report(input(statuses.slice(0, 1), { providers: ["p1"] }, NAMES.length));
    assert.equal(filtered.view, "full");
    assert.deepEqual(
      filtered.providers!.map((p) => p.provider),
      ["p1"],
    );
    const asked = await status.report(input(statuses, { view: "summary" }, 3));
    assert.equal(asked.providers, undefined);
  });

  it("says it shows one instance without Redis, or when the heartbeats cannot be read", async () => {
    const off = await setup({ redis: false }).status.report(input([], {}, 0));
    assert.equal(off.scope, "instance");
    assert.match(off.note!, /Redis is off.*one instance/);
    assert.equal(off.shared_cache, "off");
    assert.deepEqual(
      off.instances.map((i) => i.id),
      ["self"],
    );
    const unreadable = await setup({ beats: undefined }).status.report(input([], {}, 0));
    assert.equal(unreadable.scope, "instance");
    assert.match(unreadable.note!, /could not be read.*one instance/);
  });

  it("publishes only providers with something to report, and no fingerprint or secret", () => {
    const { status } = setup();
    const beat = status.beat();
    assert.deepEqual(beat.providers, {});
    assert.deepEqual(Object.keys(beat).sort(), ["degraded", "instance", "providers", "published_at", "started_at", "v", "version"]);
  });
});
