import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createRedisConnection, type RedisConnection } from "../../../shared/cache/redis-connection.js";
import { RedisKeys } from "../../../shared/cache/redis-keys.js";
import { RedisLock } from "../../../shared/cache/redis-lock.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { systemClock, systemSleeper } from "../../../functions/system.js";
import { startRedisServer, type RedisServer } from "../../../dev/redis-server.js";
import { redisSkipReason } from "../../support/redis-skip.js";

const skip = redisSkipReason();
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe("RedisLock", { skip }, () => {
  let server: RedisServer;
  const connections: RedisConnection[] = [];
  const keys = new RedisKeys("lock-test:");

  async function instance(url = server.url) {
    const logger = new MemoryLogger();
    const connection = createRedisConnection({ url, logger, clock: systemClock, sleeper: systemSleeper, maxReconnectDelayMs: 100 });
    connections.push(connection);
    assert.equal(await connection.whenReady(), true);
    return { connection, lock: new RedisLock({ connection, clock: systemClock, logger, keys }), logger };
  }

  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    for (const c of connections) await c.close();
    await server?.stop();
  });

  it("grants the lock to exactly one of two instances trying at once", async () => {
    const a = await instance();
    const b = await instance();
    const attempts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).lock.tryAcquire("rotate-silverflow", 10_000)));
    const granted = attempts.filter((lease) => lease !== undefined);
    assert.equal(granted.length, 1);
    await granted[0]!.release();
  });

  it("hands out growing fencing tokens and frees the lock on release", async () => {
    const a = await instance();
    const b = await instance();
    const first = await a.lock.tryAcquire("rotate-phixflow", 10_000);
    assert.ok(first);
    assert.equal(await first.stillHeld(), true);
    assert.equal(await b.lock.tryAcquire("rotate-phixflow", 10_000), undefined);
    await first.release();
    assert.equal(await first.stillHeld(), false);
    const second = await b.lock.tryAcquire("rotate-phixflow", 10_000);
    assert.ok(second);
    assert.ok(second.fencingToken > first.fencingToken);
    // A release by the former holder must not free its successor's lease.
    await first.release();
    assert.equal(await second.stillHeld(), true);
    assert.equal(await a.lock.tryAcquire("rotate-phixflow", 10_000), undefined);
    await second.release();
  });

  it("expires a lease after its TTL so another instance can take over, and the old holder learns it", async () => {
    const a = await instance();
    const b = await instance();
    const stalled = await a.lock.tryAcquire("rotate-ayyeka", 150);
    assert.ok(stalled);
    assert.equal(await b.lock.tryAcquire("rotate-ayyeka", 150), undefined);
    await delay(200);
    assert.equal(await stalled.stillHeld(), false);
    const successor = await b.lock.tryAcquire("rotate-ayyeka", 10_000);
    assert.ok(successor);
    assert.ok(successor.fencingToken > stalled.fencingToken);
    await stalled.release();
    assert.equal(await successor.stillHeld(), true, "the stalled holder's release is a no-op");
    await successor.release();
  });

  it("grants nothing while Redis is unreachable: no rotation rather than two", async () => {
    const own = await startRedisServer();
    try {
      const a = await instance(own.url);
      const lease = await a.lock.tryAcquire("rotate-flowe", 10_000);
      assert.ok(lease);
      await own.kill();
      assert.equal(await lease.stillHeld(), false, "a holder that cannot confirm its lease stops");
      assert.equal(await a.lock.tryAcquire("rotate-kalibrate", 10_000), undefined);
      await lease.release();
      assert.equal(a.logger.events("lock_unavailable").length, 1);
    } finally {
      await own.stop();
    }
  });
});
