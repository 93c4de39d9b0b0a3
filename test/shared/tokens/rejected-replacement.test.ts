import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CachePolicy } from "../../../shared/config/provider-base-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import type { IssuedCredential } from "../../../shared/providers/credential.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import type { FleetBackplane, FleetCoordinator } from "../../../shared/tokens/backplane.js";
import { RejectedCredentialReplacer } from "../../../shared/tokens/rejected-replacement.js";
import { TokenCache } from "../../../shared/tokens/token-cache.js";
import { ScriptedTokenSource } from "../../fakes/scripted-token-source.js";
import { ManualClock } from "../../support/manual-clock.js";

const POLICY: CachePolicy = { refreshAheadFraction: 0.75, refreshFloorSec: 120, jitterSec: 30, defaultTtlSec: 3600, maxTtlSec: 86400 };

class RecordingBus implements Pick<FleetBackplane, "publish" | "subscribe"> {
  readonly published: string[] = [];
  async publish(provider: string): Promise<void> {
    this.published.push(provider);
  }
  subscribe(_listener: (provider: string) => void): void {}
}

function setup(options: { fleet?: FleetCoordinator } = {}) {
  const clock = new ManualClock();
  const bus = new RecordingBus();
  // A fleet whose only working part is the bus: nothing stored, no fleet flights for the cache.
  const backplane: FleetBackplane = {
    get: async () => undefined,
    put: async () => {},
    forget: async () => {},
    publish: (provider) => bus.publish(provider),
    subscribe: (listener) => bus.subscribe(listener),
  };
  const cache = new TokenCache({ clock, random: () => 0, logger: new MemoryLogger(), backplane });
  const source = new ScriptedTokenSource("ayyeka", clock);
  const replacer = new RejectedCredentialReplacer({ cache, fleet: options.fleet, lock: new InProcessLock(clock) });
  return { clock, bus, cache, source, replacer };
}

describe("RejectedCredentialReplacer", () => {
  it("fetches once for any number of concurrent reports of one credential, bypassing the SDK cache, and tells the fleet", async () => {
    const { bus, cache, source, replacer } = setup();
    const current = await cache.get(source, POLICY, { minTtlSec: 0 });
    const held = source.willDefer();
    const reports = Array.from({ length: 50 }, () => replacer.replace(source, POLICY, current.cacheKey, current.credential.fingerprint, 30));
    await held.started;
    held.resolve();
    const results = await Promise.all(reports);
    assert.equal(source.issueCalls.length, 2, "the first fetch and one replacement");
    assert.equal(source.issueCalls[1]!.options.force, true, "past every cache, the SDK's included");
    assert.equal(results.filter((r) => r.fetched).length, 1);
    assert.ok(results.every((r) => r.credential === results[0]!.credential));
    assert.notEqual(results[0]!.credential.fingerprint, current.credential.fingerprint);
    const now = await cache.get(source, POLICY, { minTtlSec: 0 });
    assert.equal(now.credential, results[0]!.credential, "the cache serves the replacement");
    assert.deepEqual(bus.published, ["ayyeka"], "the other instances drop the rejected one");
  });

  it("refuses a second forced fetch within the interval (rate_limited with Retry-After), allows it after", async () => {
    const { clock, cache, source, replacer } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 0 });
    const replaced = await replacer.replace(source, POLICY, first.cacheKey, first.credential.fingerprint, 30);
    clock.advance(10_000);
    await assert.rejects(replacer.replace(source, POLICY, first.cacheKey, replaced.credential.fingerprint, 30), (e: unknown) => {
      assert.ok(e instanceof BrokerError);
      assert.equal(e.code, "rate_limited");
      assert.equal(e.status, 429);
      assert.equal(e.retryAfterSec, 30);
      return true;
    });
    assert.equal(source.issueCalls.length, 2, "no partner call while limited");
    clock.advance(20_001);
    const again = await replacer.replace(source, POLICY, first.cacheKey, replaced.credential.fingerprint, 30);
    assert.equal(again.fetched, true);
    assert.equal(source.issueCalls.length, 3);
  });

  it("a follower instance adopts the credential the fleet flight's leader fetched, without calling the partner", async () => {
    const leaderCredential = Object.freeze({
      tokenType: "Bearer",
      accessToken: "from-the-leader",
      headers: Object.freeze({ Authorization: "Bearer from-the-leader" }),
      issuedAt: Date.UTC(2026, 10, 23, 12, 0, 0),
      expiresAt: Date.UTC(2026, 10, 23, 13, 0, 0),
      fingerprint: "sha256:aaaaaaaaaaaa",
    }) as IssuedCredential;
    const keys: string[] = [];
    const fleet: FleetCoordinator = {
      singleFlight: async (key) => {
        keys.push(key);
        return leaderCredential;
      },
    };
    const { cache, source, replacer } = setup({ fleet });
    const current = await cache.get(source, POLICY, { minTtlSec: 0 });
    const issuesBefore = source.issueCalls.length;
    const result = await replacer.replace(source, POLICY, current.cacheKey, current.credential.fingerprint, 30);
    assert.equal(result.fetched, false);
    assert.equal(source.issueCalls.length, issuesBefore, "no partner call on a follower");
    assert.deepEqual(keys, [`${current.cacheKey}#rejected-${current.credential.fingerprint.slice("sha256:".length)}`]);
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 0 })).credential.fingerprint, "sha256:aaaaaaaaaaaa");
  });
});
