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

/** Waits for a condition that an event outside this process (a reconnect) will make true. */
async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${randomBytes(16).toString("base64url")}`;
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

  it("authenticates with Entra tokens (oid as user, token as password) and re-AUTHs live connections before expiry", async () => {
    const { connection: admin } = open(server.url);
    assert.equal(await admin.whenReady(), true);
    const firstOid = `oid-${randomBytes(4).toString("hex")}`;
    const secondOid = `oid-${randomBytes(4).toString("hex")}`;
    const tokens = [
      fakeJwt({ oid: firstOid, aud: "https://redis.azure.com" }),
      fakeJwt({ oid: secondOid, aud: "https://redis.azure.com" }),
    ];
    for (const [oid, token] of [[firstOid, tokens[0]!], [secondOid, tokens[1]!]]) {
      const created = await admin.run("acl", (c) => c.sendCommand(["ACL", "SETUSER", oid!, "on", `>${token}`, "~*", "&*", "+@all"]));
      assert.equal(created.ok, true);
    }
    const scopes: string[] = [];
    let calls = 0;
    const credential = {
      getToken: async (scope: string | string[]) => {
        scopes.push(String(scope));
        const token = tokens[Math.min(calls++, 1)]!;
        // The first token expires soon, so the refresh loop must replace it within the test.
        return { token, expiresOnTimestamp: Date.now() + (calls === 1 ? 800 : 3_600_000) };
      },
    };
    const { connection, logger } = open(server.url, { entraAuth: { credential } });
    assert.equal(await connection.whenReady(), true);
    assert.deepEqual(scopes[0], "https://redis.azure.com/.default");
    const whoami = async () => {
      const r = await connection.run("whoami", (c) => c.sendCommand(["ACL", "WHOAMI"]));
      return r.ok ? String(r.value) : undefined;
    };
    const clientId = async () => {
      const r = await connection.run("client_id", (c) => c.sendCommand(["CLIENT", "ID"]));
      return r.ok ? Number(r.value) : undefined;
    };
    assert.equal(await whoami(), firstOid);
    const idBefore = await clientId();

    await eventually(async () => (await whoami()) === secondOid, 3_000);
    assert.equal(await clientId(), idBefore, "same connection: re-AUTH, not a reconnect");
    // Both connections (commands and subscriber) were re-authenticated.
    const list = await admin.run("client_list", (c) => c.sendCommand(["CLIENT", "LIST"]));
    assert.ok(list.ok);
    const users = String(list.value)
      .split("\n")
      .map((line) => /\buser=(\S+)/.exec(line)?.[1])
      .filter((u) => u === firstOid || u === secondOid);
    assert.deepEqual(users, [secondOid, secondOid]);
    for (const line of logger.lines) for (const token of tokens) assert.ok(!line.includes(token), "no token in logs");
  });
});
