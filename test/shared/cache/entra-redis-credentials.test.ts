import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { DefaultAzureCredential } from "@azure/identity";
import { createClient } from "redis";
import { startRedisServer, type RedisServer } from "../../../dev/redis-server.js";
import { systemClock, systemSleeper } from "../../../functions/system.js";
import { credentialsFromToken, EntraRedisCredentials } from "../../../shared/cache/entra-redis-credentials.js";
import { createRedisConnection, type RedisConnection } from "../../../shared/cache/redis-connection.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { ManagedIdentityServer } from "../../fakes/managed-identity-server.js";
import { eventually } from "../../support/assertions.js";
import { redisSkipReason } from "../../support/redis-skip.js";

// DefaultAzureCredential must find nothing but the managed identity fake.
for (const key of Object.keys(process.env)) {
  if (key.startsWith("AZURE_") || ["MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"].includes(key)) {
    delete process.env[key];
  }
}

const skip = redisSkipReason();

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${randomBytes(16).toString("base64url")}`;
}

describe("credentialsFromToken", () => {
  it("uses the token's oid as the username and the token as the password", () => {
    const token = fakeJwt({ oid: "11111111-2222-3333-4444-555555555555", aud: "https://redis.azure.com" });
    assert.deepEqual(credentialsFromToken(token), { username: "11111111-2222-3333-4444-555555555555", password: token });
  });

  it("refuses a token without an oid, or one that is no JWT, without quoting it", () => {
    for (const token of [fakeJwt({ sub: "CANARY-no-oid" }), "CANARY-opaque-token"]) {
      assert.throws(
        () => credentialsFromToken(token),
        (error: Error) => /oid|not a JWT/.test(error.message) && !error.message.includes("CANARY"),
      );
    }
  });
});

describe("EntraRedisCredentials", () => {
  it("settles every connection's subscription when the first token request fails, so the next attempt can succeed", async () => {
    const token = fakeJwt({ oid: "oid-recovered" });
    let calls = 0;
    const credential = {
      getToken: async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (calls === 1) throw new Error("identity endpoint unavailable");
        return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const entra = new EntraRedisCredentials({ credential, logger: new MemoryLogger() });
    const listener = { onNext: () => undefined, onError: () => undefined };
    // Two connections open at once, as the command and the subscriber client do.
    const first = entra.forClient().subscribe(listener);
    const second = entra.forClient().subscribe(listener);
    const settled = (p: Promise<unknown>) =>
      Promise.race([p.then(() => "resolved", () => "rejected"), new Promise((resolve) => setTimeout(() => resolve("pending"), 2_000))]);
    assert.equal(await settled(first), "rejected");
    assert.equal(await settled(second), "resolved", "the second connection is not left hanging");
    const [credentials, subscription] = await second;
    assert.deepEqual(credentials, { username: "oid-recovered", password: token });
    subscription.dispose();
    assert.equal(entra.subscriptions, 0);
  });
});

describe("Entra authentication against Redis through the managed identity", { skip }, () => {
  let redis: RedisServer;
  let msi: ManagedIdentityServer;
  let admin: ReturnType<typeof createClient>;
  const oids = [`oid-${randomBytes(4).toString("hex")}`, `oid-${randomBytes(4).toString("hex")}`];
  // The first token names the first identity, every later one the second: WHOAMI then shows
  // which token a connection last authenticated with.
  const tokens = [fakeJwt({ oid: oids[0], aud: "https://redis.azure.com" }), fakeJwt({ oid: oids[1], aud: "https://redis.azure.com" })];
  let minted = 0;
  const connections: RedisConnection[] = [];

  before(async () => {
    redis = await startRedisServer();
    admin = createClient({ url: redis.url });
    await admin.connect();
    for (const [i, oid] of oids.entries()) {
      await admin.sendCommand(["ACL", "SETUSER", oid, "on", `>${tokens[i]}`, "~*", "&*", "+@all"]);
    }
    // Tokens live 2 s; MSAL renews anything within 5 minutes of expiry, so every request is fresh.
    msi = await ManagedIdentityServer.start({ lifetimeSec: 2, mintToken: () => tokens[Math.min(minted++, 1)]! });
    Object.assign(process.env, msi.env());
  });

  after(async () => {
    for (const c of connections) await c.close();
    admin?.destroy();
    await msi?.close();
    await redis?.stop();
  });

  it("authenticates with a managed identity token for the Redis scope and re-AUTHs live connections with the next one", async () => {
    const logger = new MemoryLogger();
    const connection = createRedisConnection({
      url: redis.url,
      entra: new EntraRedisCredentials({ credential: new DefaultAzureCredential(), logger, refreshRatio: 0.5 }),
      logger,
      clock: systemClock,
      sleeper: systemSleeper,
      maxReconnectDelayMs: 100,
      logIntervalMs: 0,
    });
    connections.push(connection);
    assert.equal(await connection.whenReady(), true);
    const whoami = async () => {
      const r = await connection.run("whoami", (c) => c.sendCommand(["ACL", "WHOAMI"]));
      return r.ok ? String(r.value) : undefined;
    };
    const clientId = async () => {
      const r = await connection.run("client_id", (c) => c.sendCommand(["CLIENT", "ID"]));
      return r.ok ? Number(r.value) : undefined;
    };
    assert.equal(await whoami(), oids[0]);
    assert.ok(connection.status().entraTokenExpiresAt! > Date.now(), "status shows when the token expires");
    const idBefore = await clientId();

    await eventually(async () => (await whoami()) === oids[1], 4_000);
    assert.equal(await clientId(), idBefore, "same connection: re-AUTH, not a reconnect");
    const list = String(await admin.sendCommand(["CLIENT", "LIST"]));
    const users = list
      .split("\n")
      .map((line) => /\buser=(\S+)/.exec(line)?.[1])
      .filter((u) => u === oids[0] || u === oids[1]);
    assert.deepEqual(users, [oids[1], oids[1]], "the command and the subscriber connection both re-authenticated");

    assert.ok(msi.requests.length >= 2);
    for (const request of msi.requests) {
      assert.deepEqual(request, { resource: "https://redis.azure.com", headerOk: true });
    }
    for (const line of logger.lines) for (const token of tokens) assert.ok(!line.includes(token), "no token in logs");
  });

  it("keeps one credentials subscription per client across reconnects (node-redis re-subscribes without disposing)", async () => {
    // The fact the per-client provider exists for: node-redis subscribes on every handshake and
    // never disposes the previous subscription.
    let subscribes = 0;
    let disposes = 0;
    const counting = {
      type: "streaming-credentials-provider" as const,
      subscribe: async () => {
        subscribes++;
        return [{ username: oids[1], password: tokens[1] }, { dispose: () => disposes++ }] as [{ username: string; password: string }, { dispose(): void }];
      },
      onReAuthenticationError: () => undefined,
    };
    const entra = new EntraRedisCredentials({ credential: new DefaultAzureCredential(), logger: new MemoryLogger(), refreshRatio: 0.5 });
    const plain = createClient({ url: redis.url, credentialsProvider: counting });
    const wrapped = createClient({ url: redis.url, credentialsProvider: entra.forClient() });
    plain.on("error", () => undefined);
    wrapped.on("error", () => undefined);
    try {
      await plain.connect();
      await wrapped.connect();
      assert.equal(entra.subscriptions, 1);
      for (const client of [plain, wrapped]) {
        const id = Number(await client.sendCommand(["CLIENT", "ID"]));
        await admin.sendCommand(["CLIENT", "KILL", "ID", String(id)]);
        await eventually(async () => client.isReady && Number(await client.sendCommand(["CLIENT", "ID"])) !== id);
      }
      assert.deepEqual({ subscribes, disposes }, { subscribes: 2, disposes: 0 }, "node-redis behaviour this class works around");
      assert.equal(entra.subscriptions, 1, "the previous subscription was dropped");
    } finally {
      plain.destroy();
      wrapped.destroy();
    }
    assert.equal(entra.subscriptions, 0, "destroying the client ends its subscription (and the token refresh)");
  });
});
