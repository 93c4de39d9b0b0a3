import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RedisInvalidationBus } from "../../../shared/cache/invalidation-bus.js";
import { createRedisConnection, type RedisConnection } from "../../../shared/cache/redis-connection.js";
import { RedisKeys } from "../../../shared/cache/redis-keys.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { systemClock, systemSleeper } from "../../../functions/system.js";
import { startRedisServer, type RedisServer } from "../../../dev/redis-server.js";
import { redisSkipReason } from "../../support/redis-skip.js";

const skip = redisSkipReason();

/** Resolves once `list` has `count` items; the messages travel through a real Redis. */
async function until(list: unknown[], count: number, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (list.length < count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} messages, got ${list.length}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("RedisInvalidationBus", { skip }, () => {
  let server: RedisServer;
  const connections: RedisConnection[] = [];
  const keys = new RedisKeys("bus-test:");

  async function instance(url = server.url, busKeys = keys) {
    const logger = new MemoryLogger();
    const connection = createRedisConnection({ url, logger, clock: systemClock, sleeper: systemSleeper, maxReconnectDelayMs: 100 });
    connections.push(connection);
    assert.equal(await connection.whenReady(), true);
    const bus = new RedisInvalidationBus({ connection, logger, keys: busKeys });
    const heard: string[] = [];
    const probes = { count: 0 };
    bus.subscribe((provider) => (provider === "probe" ? probes.count++ : heard.push(provider)));
    return { connection, bus, heard, probes, logger };
  }

  /** Subscriptions are confirmed asynchronously: publish a probe until the listener hears it. */
  async function settled(from: { bus: RedisInvalidationBus }, to: { probes: { count: number } }) {
    const deadline = Date.now() + 3_000;
    const seen = to.probes.count;
    while (to.probes.count === seen) {
      if (Date.now() > deadline) throw new Error("subscription never became active");
      await from.bus.publish("probe");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    for (const c of connections) await c.close();
    await server?.stop();
  });

  it("delivers an invalidation to every other instance but not back to the publisher", async () => {
    const a = await instance();
    const b = await instance();
    const c = await instance();
    await settled(a, b);
    await settled(a, c);
    await a.bus.publish("flowe");
    await until(b.heard, 1);
    await until(c.heard, 1);
    await b.bus.publish("kalibrate");
    await until(a.heard, 1);
    await until(c.heard, 2);
    assert.deepEqual(a.heard, ["kalibrate"]);
    assert.deepEqual(b.heard, ["flowe"]);
    assert.deepEqual(c.heard, ["flowe", "kalibrate"]);
  });

  it("ignores malformed messages and other namespaces", async () => {
    const a = await instance();
    const other = await instance(server.url, new RedisKeys("another-broker:"));
    const raw = await instance();
    await settled(raw, a);
    await raw.connection.publish(keys.invalidationChannel(), "not json");
    await raw.connection.publish(keys.invalidationChannel(), JSON.stringify({ provider: "../etc", origin: "x" }));
    await other.bus.publish("flowe");
    await raw.bus.publish("marker");
    await until(a.heard, 1);
    assert.deepEqual(a.heard, ["marker"]);
    assert.equal(a.logger.events("invalidation_message_ignored").length, 2);
  });

  it("resolves without throwing while Redis is down and hears again after it is back", async () => {
    const own = await startRedisServer();
    try {
      const a = await instance(own.url);
      const b = await instance(own.url);
      await settled(a, b);
      await own.kill();
      await a.bus.publish("flowe");
      assert.ok((a.connection.status().degradedByOperation.publish ?? 0) >= 1);
      assert.equal(a.logger.events("invalidation_not_published").length, 1);
      await own.restart();
      assert.equal(await a.connection.whenReady(), true);
      assert.equal(await b.connection.whenReady(), true);
      await settled(a, b);
      await a.bus.publish("phixflow");
      await until(b.heard, 1);
      assert.deepEqual(b.heard, ["phixflow"]);
    } finally {
      await own.stop();
    }
  });
});
