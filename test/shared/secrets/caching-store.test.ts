import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { CachingSecretStore } from "../../../shared/secrets/caching-store.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "../../../shared/secrets/secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

/** In-memory inner store that counts reads and can be told to fail or to hold reads open. */
class ScriptedStore implements SecretStore {
  readonly reads: { name: string; version: string | undefined }[] = [];
  failWith: Error | undefined;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private readonly data = new Map<string, SecretVersion[]>();
  private seq = 0;

  put(name: string, value: string): SecretVersion {
    const secret: SecretVersion = { name, version: (++this.seq).toString(16).padStart(32, "0"), value, tags: {}, createdOn: this.seq, enabled: true };
    this.data.set(name, [...(this.data.get(name) ?? []), secret]);
    return secret;
  }

  /** Reads wait until `release()`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async get(name: string, version?: string): Promise<SecretVersion> {
    this.reads.push({ name, version });
    // The value is read when the call starts, like a request that reached the vault before a write.
    const list = this.data.get(name) ?? [];
    const found = version === undefined ? list.at(-1) : list.find((s) => s.version === version);
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    if (!found) throw new SecretNotFoundError(name);
    return { ...found, tags: { ...found.tags } };
  }

  async set(name: string, value: string): Promise<SecretVersion> {
    return this.put(name, value);
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    return (this.data.get(name) ?? []).map(({ value: _v, ...info }) => info);
  }

  latestReads(name: string): number {
    return this.reads.filter((r) => r.name === name && r.version === undefined).length;
  }
}

function setup(options: { ttlMs?: number; maxStaleMs?: number; maxVersions?: number; errorRetryMs?: number } = {}) {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const inner = new ScriptedStore();
  const cache = new CachingSecretStore(inner, {
    clock,
    logger,
    ttlMs: options.ttlMs ?? 60_000,
    maxStaleMs: options.maxStaleMs ?? 600_000,
    ...(options.maxVersions === undefined ? {} : { maxVersions: options.maxVersions }),
    ...(options.errorRetryMs === undefined ? {} : { errorRetryMs: options.errorRetryMs }),
  });
  return { clock, logger, inner, cache };
}

const vaultDown = () => new BrokerError("secret_unavailable", "The secret store could not get secret (HTTP 503).", { retryAfterSec: 5 });

describe("CachingSecretStore", () => {
  it("serves the latest value from memory until the ttl passes, then reads again", async () => {
    const { clock, inner, cache } = setup({ ttlMs: 60_000 });
    inner.put("api-key", "v1");
    assert.equal((await cache.get("api-key")).value, "v1");
    inner.put("api-key", "v2");
    clock.advance(59_999);
    assert.equal((await cache.get("api-key")).value, "v1");
    assert.equal(inner.latestReads("api-key"), 1);
    clock.advance(1);
    assert.equal((await cache.get("api-key")).value, "v2");
    assert.equal(inner.latestReads("api-key"), 2);
  });

  it("answers a hit with the same settled promise, without calling the inner store", async () => {
    const { inner, cache } = setup();
    inner.put("hot", "v1");
    await cache.get("hot");
    const first = cache.get("hot");
    const second = cache.get("hot");
    assert.equal(first, second);
    assert.equal(inner.reads.length, 1);
  });

  it("shares one inner read among 100 concurrent misses", async () => {
    const { inner, cache } = setup();
    inner.put("busy", "value");
    inner.hold();
    const gets = Array.from({ length: 100 }, () => cache.get("busy"));
    inner.release();
    const results = await Promise.all(gets);
    assert.equal(inner.latestReads("busy"), 1);
    assert.ok(results.every((r) => r.value === "value"));
  });

  it("shares one failure among concurrent misses and tries again on the next call", async () => {
    const { inner, cache } = setup();
    inner.put("flaky", "value");
    inner.failWith = vaultDown();
    inner.hold();
    const gets = Array.from({ length: 10 }, () => cache.get("flaky"));
    inner.release();
    const settled = await Promise.allSettled(gets);
    assert.ok(settled.every((s) => s.status === "rejected"));
    assert.equal(inner.latestReads("flaky"), 1);
    inner.failWith = undefined;
    assert.equal((await cache.get("flaky")).value, "value");
    assert.equal(inner.latestReads("flaky"), 2);
  });

  it("serves the cached value while the store is unavailable, within maxStale, and logs no value", async () => {
    const { clock, logger, inner, cache } = setup({ ttlMs: 60_000, maxStaleMs: 600_000 });
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    const stored = inner.put("stale-ok", canary);
    await cache.get("stale-ok");
    inner.failWith = vaultDown();
    clock.advance(300_000);
    const served = await cache.get("stale-ok");
    assert.equal(served.value, canary);
    const events = logger.events("secret_stale_served");
    assert.equal(events.length, 1);
    assert.equal(events[0]!.secret, "stale-ok");
    assert.equal(events[0]!.version, stored.version);
    assert.equal(events[0]!.age_ms, 300_000);
    assert.ok(logger.lines.every((l) => !l.includes(canary)));
  });

  it("stops serving a stale value once it is older than maxStale", async () => {
    const { clock, logger, inner, cache } = setup({ ttlMs: 60_000, maxStaleMs: 600_000 });
    inner.put("stale-too-old", "old");
    await cache.get("stale-too-old");
    inner.failWith = vaultDown();
    clock.advance(600_000);
    await assert.rejects(cache.get("stale-too-old"), (e: unknown) => e instanceof BrokerError && e.code === "secret_unavailable");
    assert.equal(logger.events("secret_stale_served").length, 0);
    assert.equal(logger.events("secret_stale_expired").length, 1);
  });

  it("after serving stale, waits errorRetryMs before asking the failing store again", async () => {
    const { clock, inner, cache } = setup({ ttlMs: 60_000, errorRetryMs: 1000 });
    inner.put("outage", "v1");
    await cache.get("outage");
    inner.failWith = vaultDown();
    clock.advance(60_000);
    await cache.get("outage");
    assert.equal(inner.latestReads("outage"), 2);
    clock.advance(999);
    await cache.get("outage");
    assert.equal(inner.latestReads("outage"), 2);
    clock.advance(1);
    inner.failWith = undefined;
    inner.put("outage", "v2");
    assert.equal((await cache.get("outage")).value, "v2");
    assert.equal(inner.latestReads("outage"), 3);
  });

  it("does not paper over a deleted secret or an unexpected error", async () => {
    const { clock, inner, cache } = setup({ ttlMs: 1000 });
    inner.put("gone", "v1");
    await cache.get("gone");
    inner.failWith = new SecretNotFoundError("gone");
    clock.advance(1000);
    await assert.rejects(cache.get("gone"), SecretNotFoundError);
    inner.failWith = vaultDown();
    await assert.rejects(cache.get("gone"), BrokerError, "a deleted secret is no longer cached, so nothing stale is served");

    inner.failWith = undefined;
    inner.put("bug", "v1");
    await cache.get("bug");
    inner.failWith = new TypeError("bug in the store");
    clock.advance(1000);
    await assert.rejects(cache.get("bug"), TypeError);
  });

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

  it("writes through and serves the written value without a read", async () => {
    const { inner, cache } = setup();
    inner.put("rotated", "old");
    await cache.get("rotated");
    const written = await cache.set("rotated", "new");
    const latest = await cache.get("rotated");
    assert.equal(latest.value, "new");
    assert.equal(latest.version, written.version);
    assert.equal(inner.latestReads("rotated"), 1);
    assert.equal((await cache.get("rotated", written.version)).value, "new");
    assert.equal(inner.reads.length, 1);
  });

  it("does not let a read that started before a write replace the written value", async () => {
    const { inner, cache } = setup();
    inner.put("race", "old");
    inner.hold();
    const slowRead = cache.get("race"); // parked at the inner store
    await cache.set("race", "new");
    inner.release();
    assert.equal((await slowRead).value, "old");
    assert.equal((await cache.get("race")).value, "new");
    assert.equal(inner.latestReads("race"), 1);
  });

  it("drops cached values on invalidate", async () => {
    const { inner, cache } = setup();
    inner.put("inv-a", "a1");
    inner.put("inv-b", "b1");
    await cache.get("inv-a");
    await cache.get("inv-b");
    inner.put("inv-a", "a2");
    inner.put("inv-b", "b2");
    cache.invalidate("inv-a");
    assert.equal((await cache.get("inv-a")).value, "a2");
    assert.equal((await cache.get("inv-b")).value, "b1");
    cache.invalidate();
    assert.equal((await cache.get("inv-b")).value, "b2");
  });

  it("passes listVersions through and hands out frozen values", async () => {
    const { inner, cache } = setup();
    inner.put("listed", "x");
    inner.put("listed", "y");
    assert.equal((await cache.listVersions("listed")).length, 2);
    const secret = await cache.get("listed");
    assert.throws(() => {
      (secret as { value: string }).value = "tampered";
    }, TypeError);
    assert.throws(() => {
      secret.tags.extra = "x";
    }, TypeError);
  });
});

it("remembers a missing secret for the TTL, then asked for again, and a write ends it at once", async () => {
  const clock = new ManualClock();
  let reads = 0;
  const inner = {
    async get(name: string) {
      reads++;
      throw new SecretNotFoundError(name);
    },
    async set(name: string, value: string) {
      return { name, value, version: "v1", tags: {}, createdOn: clock.now(), enabled: true };
    },
    async listVersions() {
      return [];
    },
  };
  const store = new CachingSecretStore(inner, { clock, ttlMs: 1000, maxStaleMs: 10_000, logger: new MemoryLogger() });
  for (let i = 0; i < 5; i++) await assert.rejects(store.get("journal"), SecretNotFoundError);
  assert.equal(reads, 1);
  clock.advance(1001);
  await assert.rejects(store.get("journal"), SecretNotFoundError);
  assert.equal(reads, 2);
  await store.set("journal", "{}");
  assert.equal((await store.get("journal")).value, "{}");
  assert.equal(reads, 2);
});
