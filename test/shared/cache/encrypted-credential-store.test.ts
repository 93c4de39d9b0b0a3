import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RedisCredentialStore } from "../../../shared/cache/encrypted-credential-store.js";
import { createRedisConnection, type RedisConnection } from "../../../shared/cache/redis-connection.js";
import { RedisKeys } from "../../../shared/cache/redis-keys.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import type { IssuedCredential } from "../../../shared/providers/credential.js";
import { FileSecretStore } from "../../../shared/secrets/file-store.js";
import type { SecretStore, SecretVersion, SecretVersionInfo } from "../../../shared/secrets/secret-store.js";
import { systemSleeper } from "../../../functions/system.js";
import { ManualClock } from "../../support/manual-clock.js";
import { startRedisServer, type RedisServer } from "../../../dev/redis-server.js";
import { redisSkipReason } from "../../support/redis-skip.js";

const skip = redisSkipReason();
const KEY_SECRET = "broker-cache-key";

function credential(clock: ManualClock, lifetimeMs = 3_600_000): IssuedCredential {
  const accessToken = `CANARY-${randomBytes(12).toString("hex")}`;
  const authKey = `CANARY-KEY-${randomBytes(8).toString("hex")}`;
  return {
    tokenType: "Bearer",
    accessToken,
    headers: { Authorization: `Bearer ${accessToken}`, AuthKey: authKey, Partner: "acme" },
    expiresAt: clock.now() + lifetimeMs,
    issuedAt: clock.now(),
    fingerprint: fingerprint(accessToken),
  };
}

/** Secret store that is down (Key Vault unreachable). */
class UnavailableSecretStore implements SecretStore {
  calls = 0;
  async get(): Promise<SecretVersion> {
    this.calls++;
    throw new BrokerError("secret_unavailable", "Key Vault unavailable.");
  }
  async set(): Promise<SecretVersion> {
    this.calls++;
    throw new BrokerError("secret_unavailable", "Key Vault unavailable.");
  }
  async listVersions(): Promise<SecretVersionInfo[]> {
    return [];
  }
}

describe("RedisCredentialStore", { skip }, () => {
  let server: RedisServer;
  let dir: string;
  let connection: RedisConnection;
  const connections: RedisConnection[] = [];
  const clock = new ManualClock();
  const keys = new RedisKeys("test-store:");

  const open = () => {
    const c = createRedisConnection({ url: server.url, logger: new MemoryLogger(), clock, sleeper: systemSleeper, maxReconnectDelayMs: 100 });
    connections.push(c);
    return c;
  };
  const makeStore = (secrets: SecretStore, conn = connection, extra: { keyRefreshMs?: number } = {}) => {
    const logger = new MemoryLogger();
    return { store: new RedisCredentialStore({ connection: conn, secrets, clock, logger, keys, ...extra }), logger };
  };
  const raw = async (redisKey: string) => {
    const r = await connection.run("raw", (c) => c.get(redisKey));
    assert.ok(r.ok);
    return r.value as string | null;
  };

  before(async () => {
    server = await startRedisServer();
    dir = mkdtempSync(join(tmpdir(), "broker-cache-store-"));
    connection = open();
    assert.equal(await connection.whenReady(), true);
  });
  after(async () => {
    for (const c of connections) await c.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("round-trips a credential and creates the data key (32 random bytes) when the secret is absent", async () => {
    const secrets = new FileSecretStore(join(dir, "roundtrip"), { clock });
    const { store } = makeStore(secrets);
    const cred = credential(clock);
    await store.put("flowe:0123456789abcdef", cred);
    assert.deepEqual(await store.get("flowe:0123456789abcdef"), cred);
    const key = await secrets.get(KEY_SECRET);
    assert.equal(Buffer.from(key.value, "base64").length, 32);
    assert.equal((await secrets.listVersions(KEY_SECRET)).length, 1);
    assert.equal(await store.get("flowe:ffffffffffffffff"), undefined, "other keys miss");
  });

  it("stores only ciphertext: the raw Redis value holds no token or header text, and names the key version", async () => {
    const secrets = new FileSecretStore(join(dir, "raw"), { clock });
    const { store, logger } = makeStore(secrets);
    const cred = credential(clock);
    await store.put("flowe:raw", cred);
    const value = await raw(keys.credential("flowe:raw"));
    assert.ok(value);
    for (const secret of [cred.accessToken!, cred.headers.AuthKey!, "Bearer", "acme", cred.fingerprint]) {
      assert.ok(!value.includes(secret), "no plaintext in Redis");
    }
    const envelope = JSON.parse(value) as Record<string, unknown>;
    assert.deepEqual(Object.keys(envelope).sort(), ["ct", "iv", "kid", "tag", "v"]);
    assert.equal(envelope.kid, (await secrets.get(KEY_SECRET)).version);
    assert.equal(Buffer.from(String(envelope.iv), "base64").length, 12);
    for (const line of logger.lines) assert.ok(!line.includes(cred.accessToken!));
  });

  it("sets the Redis TTL to the credential's remaining lifetime and writes nothing already expired", async () => {
    const secrets = new FileSecretStore(join(dir, "ttl"), { clock });
    const { store } = makeStore(secrets);
    await store.put("flowe:ttl", credential(clock, 90_000));
    const ttl = await connection.run("pttl", (c) => c.pTTL(keys.credential("flowe:ttl")));
    assert.ok(ttl.ok);
    assert.ok(ttl.value > 85_000 && ttl.value <= 90_000, `PTTL ${ttl.value}`);
    const index = await connection.run("pttl", (c) => c.pTTL(keys.providerIndex("flowe")));
    assert.ok(index.ok && index.value > 85_000, "the provider index expires too");

    const expired = credential(clock, 1_000);
    clock.advance(2_000);
    await store.put("flowe:expired", expired);
    assert.equal(await raw(keys.credential("flowe:expired")), null);
  });

  it("reads entries written under an earlier key version after the data key is rotated", async () => {
    const secrets = new FileSecretStore(join(dir, "rotation"), { clock });
    const { store } = makeStore(secrets, connection, { keyRefreshMs: 0 });
    const before = credential(clock);
    await store.put("kalibrate:old", before);
    const oldKid = JSON.parse((await raw(keys.credential("kalibrate:old")))!).kid;

    clock.advance(1);
    await secrets.set(KEY_SECRET, randomBytes(32).toString("base64"));
    const afterRotation = credential(clock);
    await store.put("kalibrate:new", afterRotation);
    const newKid = JSON.parse((await raw(keys.credential("kalibrate:new")))!).kid;

    assert.notEqual(oldKid, newKid);
    assert.equal(newKid, (await secrets.get(KEY_SECRET)).version);
    // A fresh instance (another fleet member) reads both.
    const { store: other } = makeStore(secrets);
    assert.deepEqual(await other.get("kalibrate:old"), before);
    assert.deepEqual(await other.get("kalibrate:new"), afterRotation);
  });

  it("treats tampered, transplanted or unknown-key entries as misses and deletes them", async () => {
    const secrets = new FileSecretStore(join(dir, "tamper"), { clock });
    const { store, logger } = makeStore(secrets);
    const cred = credential(clock);

    await store.put("ayyeka:tampered", cred);
    const envelope = JSON.parse((await raw(keys.credential("ayyeka:tampered")))!) as { ct: string };
    const ct = Buffer.from(envelope.ct, "base64");
    ct[0] = ct[0]! ^ 0x01;
    const tampered = JSON.stringify({ ...envelope, ct: ct.toString("base64") });
    await connection.run("set", (c) => c.set(keys.credential("ayyeka:tampered"), tampered));
    assert.equal(await store.get("ayyeka:tampered"), undefined);
    assert.equal(await raw(keys.credential("ayyeka:tampered")), null, "deleted");

    // The cache key is authenticated: an entry copied under another key does not decrypt.
    await store.put("ayyeka:a", cred);
    await connection.run("set", async (c) => c.set(keys.credential("ayyeka:b"), (await c.get(keys.credential("ayyeka:a")))!));
    assert.equal(await store.get("ayyeka:b"), undefined);
    assert.deepEqual(await store.get("ayyeka:a"), cred);

    const foreignKid = JSON.stringify({ ...envelope, kid: "0".repeat(32) });
    await connection.run("set", (c) => c.set(keys.credential("ayyeka:kid"), foreignKid));
    assert.equal(await store.get("ayyeka:kid"), undefined);
    assert.equal(await raw(keys.credential("ayyeka:kid")), null);

    await connection.run("set", (c) => c.set(keys.credential("ayyeka:junk"), "not json"));
    assert.equal(await store.get("ayyeka:junk"), undefined);
    assert.deepEqual(
      logger.events("shared_cache_entry_dropped").map((f) => f.reason),
      ["decrypt_failed", "decrypt_failed", "unknown_kid", "not_json"],
    );
    for (const line of logger.lines) assert.ok(!line.includes(cred.accessToken!));
  });

  it("drops every entry of a provider through its index, and only that provider's", async () => {
    const secrets = new FileSecretStore(join(dir, "provider"), { clock });
    const { store } = makeStore(secrets);
    await store.put("silverflow:v1", credential(clock));
    await store.put("silverflow:v2", credential(clock));
    await store.put("phixflow:v1", credential(clock));
    assert.equal(await store.deleteProvider("silverflow"), true);
    assert.equal(await store.get("silverflow:v1"), undefined);
    assert.equal(await store.get("silverflow:v2"), undefined);
    assert.ok(await store.get("phixflow:v1"));
    await store.delete("phixflow:v1");
    assert.equal(await store.get("phixflow:v1"), undefined);
  });

  it("is a miss, never an exception, while the secret store is down", async () => {
    const secrets = new UnavailableSecretStore();
    const { store, logger } = makeStore(secrets);
    await store.put("flowe:nokey", credential(clock));
    await store.put("flowe:nokey", credential(clock));
    assert.equal(await raw(keys.credential("flowe:nokey")), null);
    assert.equal(secrets.calls, 1, "no vault call per request during an outage");
    assert.equal(logger.events("shared_cache_key_unavailable").length, 1);
  });

  it("is a miss, never an exception, while Redis is down, and works again once it is back", async () => {
    const own = await startRedisServer();
    const conn = createRedisConnection({ url: own.url, logger: new MemoryLogger(), clock, sleeper: systemSleeper, maxReconnectDelayMs: 100 });
    connections.push(conn);
    try {
      assert.equal(await conn.whenReady(), true);
      const secrets = new FileSecretStore(join(dir, "down"), { clock });
      const { store } = makeStore(secrets, conn);
      await store.put("flowe:down", credential(clock));
      assert.ok(await store.get("flowe:down"));
      await own.kill();
      assert.equal(await store.get("flowe:down"), undefined);
      await store.put("flowe:down", credential(clock));
      await store.delete("flowe:down");
      assert.equal(await store.deleteProvider("flowe"), false);
      assert.ok(conn.status().degradedOperations >= 4);

      await own.restart();
      assert.equal(await conn.whenReady(), true, "reconnects by itself");
      const again = credential(clock);
      await store.put("flowe:down", again);
      assert.deepEqual(await store.get("flowe:down"), again);
    } finally {
      await own.stop();
    }
  });
});
