import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LazySecretStore } from "../../../shared/secrets/lazy-store.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";

describe("LazySecretStore", () => {
  it("creates the real store on the first call, not before", async () => {
    const inner = new MemorySecretStore();
    await inner.set("partner-key", "v1");
    let creations = 0;
    const lazy = new LazySecretStore(async () => {
      creations++;
      return inner;
    });
    assert.equal(creations, 0);
    assert.equal((await lazy.get("partner-key")).value, "v1");
    assert.equal(creations, 1);
  });

  it("shares one creation between concurrent first calls and forwards every operation", async () => {
    const inner = new MemorySecretStore();
    let creations = 0;
    const lazy = new LazySecretStore(async () => {
      creations++;
      await new Promise((resolve) => setImmediate(resolve));
      return inner;
    });
    const [written] = await Promise.all([lazy.set("journal", "open", { state: "pending" }), lazy.listVersions("journal")]);
    assert.equal(creations, 1);
    assert.equal((await lazy.get("journal", written.version)).tags.state, "pending");
    assert.equal((await lazy.listVersions("journal")).length, 1);
  });

  it("tries the creation again after a failure instead of keeping the failure", async () => {
    const inner = new MemorySecretStore();
    await inner.set("partner-key", "v1");
    let attempts = 0;
    const lazy = new LazySecretStore(async () => {
      if (++attempts === 1) throw new Error("SDK chunk could not load");
      return inner;
    });
    await assert.rejects(lazy.get("partner-key"), /could not load/);
    assert.equal((await lazy.get("partner-key")).value, "v1");
    assert.equal(attempts, 2);
  });
});
