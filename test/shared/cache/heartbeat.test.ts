import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "redis";
import { RedisHeartbeats, startHeartbeatLoop, type Heartbeat } from "../../../shared/cache/heartbeat.js";
import { createRedisConnection, type RedisConnection } from "../../../shared/cache/redis-connection.js";
import { RedisKeys } from "../../../shared/cache/redis-keys.js";
import type { Sleeper } from "../../../shared/clock.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { systemClock, systemSleeper } from "../../../functions/system.js";
import { startRedisServer, type RedisServer } from "../../../dev/redis-server.js";
import { redisSkipReason } from "../../support/redis-skip.js";

const skip = redisSkipReason();

function beat(instance: string, publishedAt: number, providers: Heartbeat["providers"] = {}): Heartbeat {
  return { v: 1, instance, started_at: publishedAt - 1000, version: "1.2.3", published_at: publishedAt, degraded: false, providers };
}

describe("RedisHeartbeats", { skip }, () => {
  let server: RedisServer;
  let connection: RedisConnection;
  const logger = new MemoryLogger();
  const keys = new RedisKeys("heartbeat-test:");
  let heartbeats: RedisHeartbeats;

  before(async () => {
    server = await startRedisServer();
    connection = createRedisConnection({ url: server.url, logger, clock: systemClock, sleeper: systemSleeper });
    assert.equal(await connection.whenReady(), true);
    heartbeats = new RedisHeartbeats({ connection, logger, keys, maxBytes: 4096 });
  });
  after(async () => {
    await connection?.close();
    await server?.stop();
  });

  it("stores each instance's heartbeat, reads them newest first, and removes one", async () => {
    const now = Date.now();
    assert.deepEqual(await heartbeats.read(), []);
    const a = beat("instance-a", now - 2000, { flowe: { expires_at: now + 60_000, last_refresh_at: now - 5000 } });
    const b = beat("instance-b", now, { ayyeka: { last_error: { code: "upstream_unavailable", at: now }, circuit: "open" } });
    assert.equal(await heartbeats.publish(a, 60_000), true);
    assert.equal(await heartbeats.publish(b, 60_000), true);
    assert.deepEqual(await heartbeats.read(), [b, a]);
    await heartbeats.remove("instance-b");
    assert.deepEqual(await heartbeats.read(), [a]);
    await heartbeats.remove("instance-a");
  });

  it("lets a heartbeat expire after its TTL", async () => {
    await heartbeats.publish(beat("short-lived", Date.now()), 50);
    await new Promise((r) => setTimeout(r, 120));
    assert.deepEqual(await heartbeats.read(), []);
  });

  it("ignores malformed and oversized heartbeats instead of failing the read", async () => {
    const client = createClient({ url: server.url });
    await client.connect();
    try {
      const now = Date.now();
      const good = beat("good", now);
      await heartbeats.publish(good, 60_000);
      const planted = {
        "not-json": "{nope",
        "wrong-shape": JSON.stringify({ ...good, instance: "wrong-shape", token: "CANARY" }),
        huge: JSON.stringify(beat("huge", now, Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, { expires_at: now }])))),
      };
      for (const [id, value] of Object.entries(planted)) {
        await client.set(keys.heartbeat(id), value);
        await client.zAdd(keys.heartbeatIndex(), { score: now, value: id });
      }
      assert.deepEqual(await heartbeats.read(), [good]);
      assert.deepEqual(logger.events("heartbeat_ignored").at(-1), { count: 3, reason: "malformed_or_too_large" });
    } finally {
      client.destroy();
    }
  });

  it("the loop publishes at once and every interval through the sleeper, and stop() deletes the heartbeat", async () => {
    const sleeps: number[] = [];
    const sleeper: Sleeper = {
      sleep: (ms, signal) => {
        sleeps.push(ms);
        return systemSleeper.sleep(5, signal);
      },
      deadline: systemSleeper.deadline,
    };
    let published = 0;
    const loop = startHeartbeatLoop({
      heartbeats,
      connection,
      sleeper,
      intervalMs: 30_000,
      ttlMs: 60_000,
      beat: () => beat("looping", Date.now() + ++published),
    });
    const deadline = Date.now() + 3000;
    while (published < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(published >= 3, `published ${published} times`);
    assert.ok(sleeps.slice(0, 2).every((ms) => ms === 30_000), `slept ${sleeps.slice(0, 2)}`);
    assert.ok((await heartbeats.read())?.some((b) => b.instance === "looping"));
    await loop.stop();
    assert.equal((await heartbeats.read())?.some((b) => b.instance === "looping"), false, "a graceful stop leaves no heartbeat behind");
  });

  it("reads undefined (not an empty fleet) when Redis is down", async () => {
    await server.kill();
    try {
      assert.equal(await heartbeats.read(), undefined);
    } finally {
      await server.restart();
      assert.equal(await connection.whenReady(), true);
    }
  });
});
