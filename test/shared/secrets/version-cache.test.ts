import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { VersionCache } from "../../../shared/secrets/version-cache.js";
import { ManualClock } from "../../support/manual-clock.js";
import { ScriptedStore, vaultDown } from "../../support/scripted-secret-store.js";

function setup(options: { maxVersions?: number } = {}) {
  const inner = new ScriptedStore(new ManualClock());
  const cache = new VersionCache((name, version) => inner.get(name, version), options.maxVersions ?? 1000);
  return { inner, cache };
}

describe("VersionCache", () => {
  it("caches specific versions, within a bound", async () => {
    const { inner, cache } = setup({ maxVersions: 2 });
    const a = inner.put("multi", "a");
    const b = inner.put("multi", "b");
    const c = inner.put("multi", "c");
    assert.equal((await cache.get("multi", a.version)).value, "a");
    assert.equal((await cache.get("multi", a.version)).value, "a");
    assert.equal(inner.reads.length, 1);
    await cache.get("multi", b.version);
    await cache.get("multi", c.version); // evicts a
    await cache.get("multi", a.version);
    assert.equal(inner.reads.filter((r) => r.version === a.version).length, 2);
  });

  it("does not cache a failed version read", async () => {
    const { inner, cache } = setup();
    const a = inner.put("vfail", "a");
    inner.failWith = vaultDown();
    await assert.rejects(cache.get("vfail", a.version), BrokerError);
    inner.failWith = undefined;
    assert.equal((await cache.get("vfail", a.version)).value, "a");
  });


  it("shares one read among concurrent reads of a version and serves a remembered version without a read", async () => {
    const { inner, cache } = setup();
    const a = inner.put("shared-read", "a");
    const reads = await Promise.all(Array.from({ length: 10 }, () => cache.get("shared-read", a.version)));
    assert.ok(reads.every((s) => s.value === "a"));
    assert.equal(inner.reads.length, 1);
    const b = inner.put("shared-read", "b");
    cache.remember("shared-read", b.version, Promise.resolve(b));
    assert.equal((await cache.get("shared-read", b.version)).value, "b");
    assert.equal(inner.reads.length, 1);
  });

  it("drops one secret's versions on invalidate, or every version", async () => {
    const { inner, cache } = setup();
    const a = inner.put("inv-a", "a");
    const b = inner.put("inv-b", "b");
    await cache.get("inv-a", a.version);
    await cache.get("inv-b", b.version);
    cache.invalidate("inv-a");
    await cache.get("inv-a", a.version);
    await cache.get("inv-b", b.version);
    assert.deepEqual(
      inner.reads.map((r) => r.name),
      ["inv-a", "inv-b", "inv-a"],
    );
    cache.invalidate();
    await cache.get("inv-b", b.version);
    assert.equal(inner.reads.length, 4);
  });
});
