import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureDevTls } from "../../../dev/tls.js";
import { createRedisConnection, type RedisConnection, type RedisConnectionOptions } from "../../../shared/cache/redis-connection.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { systemClock, systemSleeper } from "../../../functions/system.js";
import { startRedisServer, type RedisServer } from "../../../dev/redis-server.js";
import { eventually } from "../../support/assertions.js";
import { redisSkipReason } from "../../support/redis-skip.js";

const skip = redisSkipReason();

function connect(url: string, extra: Partial<RedisConnectionOptions> = {}) {
  const logger = new MemoryLogger();
  const connection = createRedisConnection({
    url,
    logger,
    clock: systemClock,
    sleeper: systemSleeper,
    maxReconnectDelayMs: 100,
    logIntervalMs: 0,
    ...extra,
  });
  return { connection, logger };
}

describe("RedisConnection", { skip }, () => {
  let server: RedisServer;
  const connections: RedisConnection[] = [];
  const open = (url: string, extra: Partial<RedisConnectionOptions> = {}) => {
    const made = connect(url, extra);
    connections.push(made.connection);
    return made;
  };

  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    for (const c of connections) await c.close();
    await server?.stop();
  });

  it("runs commands once both connections are ready and reports itself healthy", async () => {
    const { connection } = open(server.url);
    assert.equal(await connection.whenReady(), true);
    assert.equal(connection.healthy, true);
    const set = await connection.run("test_set", (c) => c.set("conn:plain", "v"));
    assert.deepEqual(set, { ok: true, value: "OK" });
    assert.deepEqual(await connection.run("test_get", (c) => c.get("conn:plain")), { ok: true, value: "v" });
    assert.equal(connection.status().degradedOperations, 0);
  });

  it("fails fast without throwing while Redis is down, counts it, and recovers with its subscriptions after a restart", async () => {
    const { connection } = open(server.url);
    const { connection: publisher } = open(server.url);
    assert.equal(await connection.whenReady(), true);
    assert.equal(await publisher.whenReady(), true);
    const received: string[] = [];
    connection.subscribe("conn:channel", (m) => received.push(m));
    await eventually(async () => {
      await publisher.publish("conn:channel", "before");
      return received.includes("before");
    });

    await server.kill();
    await eventually(() => !connection.healthy);
    const started = Date.now();
    const result = await connection.run("test_get", (c) => c.get("conn:plain"));
    assert.deepEqual(result, { ok: false });
    assert.ok(Date.now() - started < 100, "no offline queue: a command fails at once");
    assert.equal(await connection.publish("conn:channel", "lost"), false);
    const status = connection.status();
    assert.equal(status.healthy, false);
    assert.ok((status.degradedByOperation.test_get ?? 0) >= 1);
    assert.ok((status.degradedByOperation.publish ?? 0) >= 1);

    await server.restart();
    assert.equal(await connection.whenReady(5_000), true, "reconnects by itself");
    assert.deepEqual(await connection.run("test_set", (c) => c.set("conn:after", "1")), { ok: true, value: "OK" });
    assert.ok(connection.status().reconnects >= 1);
    await publisher.whenReady(5_000);
    await eventually(async () => {
      await publisher.publish("conn:channel", "after");
      return received.includes("after");
    });
  });

  it("gives up on a command after the per-command timeout when Redis hangs", async () => {
    const { connection } = open(server.url, { commandTimeoutMs: 150 });
    assert.equal(await connection.whenReady(), true);
    server.pause();
    try {
      const started = Date.now();
      const result = await connection.run("test_get", (c) => c.get("conn:plain"));
      const elapsed = Date.now() - started;
      assert.deepEqual(result, { ok: false });
      assert.ok(elapsed >= 140 && elapsed < 1_000, `timed out after ${elapsed} ms`);
      assert.equal(connection.status().degradedByOperation.test_get, 1);
    } finally {
      server.resume();
    }
  });

  it("authenticates with the URL's password and never logs it, right or wrong", async () => {
    const password = `CANARY-${randomBytes(8).toString("hex")}`;
    const protectedServer = await startRedisServer({ password });
    try {
      const good = open(protectedServer.url);
      assert.equal(await good.connection.whenReady(), true, "the password from the URL authenticates");
      assert.deepEqual(await good.connection.run("ping", (c) => c.ping()), { ok: true, value: "PONG" });

      const wrongUrl = protectedServer.url.replace(encodeURIComponent(password), `WRONG-${password}`);
      const bad = open(wrongUrl, { connectTimeoutMs: 500 });
      assert.equal(await bad.connection.whenReady(300), false);
      assert.deepEqual(await bad.connection.run("ping", (c) => c.ping()), { ok: false });
      await bad.connection.close();
      for (const line of [...good.logger.lines, ...bad.logger.lines]) assert.ok(!line.includes(password), line);
      assert.ok(bad.logger.events("redis_connection_error").length >= 1);
    } finally {
      await protectedServer.stop();
    }
  });

  it("speaks TLS to a rediss:// server", async () => {
    const tls = await ensureDevTls();
    const dir = mkdtempSync(join(tmpdir(), "broker-redis-tls-"));
    const certFile = join(dir, "server.pem");
    const keyFile = join(dir, "server-key.pem");
    writeFileSync(certFile, tls.cert);
    writeFileSync(keyFile, tls.key, { mode: 0o600 });
    const tlsServer = await startRedisServer({ tls: { certFile, keyFile, caFile: tls.caFile } });
    try {
      assert.match(tlsServer.url, /^rediss:\/\//);
      const { connection } = open(tlsServer.url);
      assert.equal(await connection.whenReady(), true);
      assert.deepEqual(await connection.run("ping", (c) => c.ping()), { ok: true, value: "PONG" });
    } finally {
      await tlsServer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
