import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { CachingSecretStore } from "../../../shared/secrets/caching-store.js";
import { SecretNotFoundError } from "../../../shared/secrets/secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";
import { ScriptedStore, vaultDown } from "../../support/scripted-secret-store.js";

function setup(options: { ttlMs?: number; maxStaleMs?: number } = {}) {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const inner = new ScriptedStore(clock);
  const cache = new CachingSecretStore(inner, {
    clock,
    logger,
    ttlMs: options.ttlMs ?? 60_000,
    maxStaleMs: options.maxStaleMs ?? 600_000,
  });
  return { clock, logger, inner, cache };
}

/**
 * Whether `promise` is settled before the event loop turns once: a value already in memory is; a
 * request waiting for a store held open (`hold()`) is not.
 */
async function answersAtOnce(promise: Promise<unknown>): Promise<boolean> {
  promise.catch(() => undefined);
  const waiting = new Promise<false>((resolve) => setImmediate(() => resolve(false)));
  return Promise.race([promise.then(() => true, () => true), waiting]);
}

const isUnavailable = (e: unknown) => e instanceof BrokerError && e.code === "secret_unavailable" && !(e instanceof SecretNotFoundError);

describe("CachingSecretStore", () => {
  it("serves the latest value from memory until the ttl passes, then the cached value at once while a background read picks up a new version", async () => {
    const { clock, inner, cache } = setup({ ttlMs: 60_000 });
    inner.put("api-key", "v1");
    assert.equal((await cache.get("api-key")).value, "v1");
    const v2 = inner.put("api-key", "v2");
    clock.advance(59_999);
    assert.equal((await cache.get("api-key")).value, "v1");
    assert.equal(inner.latestReads("api-key"), 1);
    clock.advance(1);
    const stale = cache.get("api-key");
    assert.equal(await answersAtOnce(stale), true);
    assert.equal((await stale).value, "v1");
    assert.equal(inner.latestReads("api-key"), 2);
    await inner.idle();
    const fresh = await cache.get("api-key");
    assert.equal(fresh.value, "v2");
    assert.equal(fresh.version, v2.version);
    clock.advance(59_999);
    assert.equal((await cache.get("api-key")).value, "v2");
    assert.equal(inner.latestReads("api-key"), 2, "the refreshed value starts a new ttl");
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

  it("does not make a request wait for a hung store while its value is younger than maxStale; beyond it the request waits and fails", async () => {
    const { clock, logger, inner, cache } = setup({ ttlMs: 60_000, maxStaleMs: 600_000 });
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    inner.put("hung", canary);
    await cache.get("hung");
    inner.hold(); // the vault never answers
    clock.advance(60_000);
    for (let t = 60_000; t < 600_000; t += 10_000) {
      const answer = cache.get("hung");
      assert.equal(await answersAtOnce(answer), true, `request at ${t} ms waited for the store`);
      assert.equal((await answer).value, canary);
      clock.advance(10_000);
    }
    assert.equal(inner.latestReads("hung"), 2, "one background read, shared by every request");
    // 600 s old: no longer served; the request joins the read under way and waits for it.
    const late = cache.get("hung");
    assert.equal(await answersAtOnce(late), false);
    inner.failWith = vaultDown();
    inner.release();
    await assert.rejects(late, isUnavailable);
    assert.equal(logger.events("secret_stale_expired").length, 1);
    assert.ok(logger.lines.every((l) => !l.includes(canary)));
  });

  it("logs a failed background refresh and the stale value served after it, by name and version only", async () => {
    const { clock, logger, inner, cache } = setup({ ttlMs: 60_000, maxStaleMs: 600_000 });
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    const stored = inner.put("stale-ok", canary);
    await cache.get("stale-ok");
    inner.failWith = vaultDown();
    clock.advance(300_000);
    assert.equal((await cache.get("stale-ok")).value, canary);
    await inner.idle();
    assert.deepEqual(logger.events("secret_refresh_failed"), [
      {
        secret: "stale-ok",
        version: stored.version,
        age_ms: 300_000,
        failures: 1,
        retry_in_ms: 1000,
        error: "BrokerError:secret_unavailable",
        error_chain: ["BrokerError:secret_unavailable"],
      },
    ]);
    assert.equal(logger.events("secret_stale_served").length, 0, "nothing had failed when the first stale value was served");
    clock.advance(500);
    assert.equal((await cache.get("stale-ok")).value, canary);
    assert.equal((await cache.get("stale-ok")).value, canary);
    assert.deepEqual(logger.events("secret_stale_served"), [{ secret: "stale-ok", version: stored.version, age_ms: 300_500, failures: 1 }]);
    assert.equal(inner.latestReads("stale-ok"), 2, "the back-off holds the next read");
    assert.ok(logger.lines.every((l) => !l.includes(canary)));
  });

  it("backs off failed background refreshes, doubling from 1 s up to the cap, and recovers", async () => {
    const { clock, logger, inner, cache } = setup({ ttlMs: 60_000, maxStaleMs: 600_000 }); // cap min(60 s, 150 s)
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    inner.put("outage", canary);
    await cache.get("outage");
    inner.failWith = vaultDown();
    clock.advance(60_000);
    const start = clock.now();
    for (let i = 0; i < 480; i++) {
      // One request every 500 ms for 240 s, each answered from memory.
      assert.equal((await cache.get("outage")).value, canary);
      await inner.idle();
      clock.advance(500);
    }
    const readsAt = inner.reads.slice(1).map((r) => (r.at - start) / 1000);
    assert.deepEqual(readsAt, [0, 1, 3, 7, 15, 31, 63, 123, 183]);
    assert.deepEqual(
      logger.events("secret_refresh_failed").map((e) => e.retry_in_ms),
      [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000],
    );
    assert.equal(logger.events("secret_stale_served").length, 9, "one line per failure, not per request");

    inner.failWith = undefined;
    const v2 = inner.put("outage", "v2");
    clock.advance(60_000); // past the last back-off
    assert.equal((await cache.get("outage")).value, canary);
    await inner.idle();
    assert.equal((await cache.get("outage")).version, v2.version);
    clock.advance(60_000);
    await cache.get("outage");
    assert.equal(inner.reads.at(-1)!.at, clock.now(), "a successful read ends the back-off");
    assert.ok(logger.lines.every((l) => !l.includes(canary)));
  });

  it("stops serving a stale value once it is older than maxStale", async () => {
    const { clock, logger, inner, cache } = setup({ ttlMs: 60_000, maxStaleMs: 600_000 });
    inner.put("stale-too-old", "old");
    await cache.get("stale-too-old");
    inner.failWith = vaultDown();
    clock.advance(600_000);
    await assert.rejects(cache.get("stale-too-old"), isUnavailable);
    assert.equal(logger.events("secret_stale_served").length, 0);
    assert.equal(logger.events("secret_stale_expired").length, 1);
    await assert.rejects(cache.get("stale-too-old"), isUnavailable);
    assert.equal(inner.latestReads("stale-too-old"), 3, "every request asks the store again, as nothing can be served");
  });

  it("waits for the store on every read past the ttl when maxStale does not exceed it", async () => {
    const { clock, inner, cache } = setup({ ttlMs: 1000, maxStaleMs: 0 });
    inner.put("no-stale", "v1");
    await cache.get("no-stale");
    inner.put("no-stale", "v2");
    clock.advance(1000);
    inner.hold();
    const read = cache.get("no-stale");
    assert.equal(await answersAtOnce(read), false);
    inner.release();
    assert.equal((await read).value, "v2");
  });

  it("does not paper over a deleted secret or an unexpected error", async () => {
    const { clock, logger, inner, cache } = setup({ ttlMs: 1000 });
    inner.put("gone", "v1");
    await cache.get("gone");
    inner.failWith = new SecretNotFoundError("gone");
    clock.advance(1000);
    assert.equal((await cache.get("gone")).value, "v1", "served while the store is asked in the background");
    await inner.idle();
    await assert.rejects(cache.get("gone"), SecretNotFoundError);
    await assert.rejects(cache.get("gone"), SecretNotFoundError);
    assert.equal(inner.latestReads("gone"), 2, "the missing secret is remembered");
    inner.failWith = vaultDown();
    clock.advance(1000);
    await assert.rejects(cache.get("gone"), isUnavailable, "a deleted secret is no longer cached, so nothing stale is served");

    inner.failWith = undefined;
    inner.put("bug", "v1");
    await cache.get("bug");
    inner.failWith = new TypeError("bug in the store");
    clock.advance(1000);
    assert.equal((await cache.get("bug")).value, "v1");
    await inner.idle();
    await assert.rejects(cache.get("bug"), TypeError);
    assert.equal(logger.events("secret_refresh_failed").at(-1)!.error, "TypeError");
  });

  it("never leaves a failed background refresh as an unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { clock, inner, cache } = setup({ ttlMs: 1000, maxStaleMs: 10_000 });
      for (const [name, error] of [
        ["bg-gone", new SecretNotFoundError("bg-gone")],
        ["bg-bug", new TypeError("bug")],
        ["bg-down", vaultDown()],
      ] as const) {
        inner.failWith = undefined;
        inner.put(name, "v1");
        await cache.get(name);
        inner.failWith = error;
        clock.advance(1000);
        await cache.get(name);
        await inner.idle();
      }
      // A background read that fails only after the value it would refresh aged past maxStale.
      inner.failWith = undefined;
      inner.put("bg-late", "v1");
      await cache.get("bg-late");
      clock.advance(1000);
      inner.hold();
      await cache.get("bg-late");
      clock.advance(10_000);
      inner.failWith = vaultDown();
      inner.release();
      await inner.idle();
      await new Promise((resolve) => setImmediate(resolve)); // unhandledRejection is emitted after the microtasks drain
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
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

  it("does not let a background refresh that started before set() or invalidate() replace the newer value", async () => {
    const { clock, inner, cache } = setup({ ttlMs: 1000 });
    inner.put("bg-race", "v1");
    await cache.get("bg-race");
    inner.put("bg-race", "v2");
    clock.advance(1000);
    inner.hold();
    assert.equal((await cache.get("bg-race")).value, "v1"); // the background read has seen v2
    await cache.set("bg-race", "written");
    inner.release();
    await inner.idle();
    assert.equal((await cache.get("bg-race")).value, "written");

    clock.advance(1000);
    inner.hold();
    assert.equal((await cache.get("bg-race")).value, "written"); // background read sees "written"
    cache.invalidate("bg-race");
    inner.put("bg-race", "v4");
    inner.release();
    await inner.idle();
    assert.equal((await cache.get("bg-race")).value, "v4");
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
