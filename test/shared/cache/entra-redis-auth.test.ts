import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { EntraRedisAuth, type RedisAuth } from "../../../shared/cache/entra-redis-auth.js";
import type { Sleeper } from "../../../shared/clock.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { ManualClock } from "../../support/manual-clock.js";

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${randomBytes(16).toString("base64url")}`;
}

/** A sleeper the test releases by hand; each sleep advances the manual clock when released. */
class GatedSleeper implements Sleeper {
  readonly waiting: { ms: number; release: () => void }[] = [];
  private arrived: (() => void) | undefined;
  constructor(private readonly clock: ManualClock) {}
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = {
        ms,
        release: () => {
          this.clock.advance(ms);
          resolve();
        },
      };
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      this.waiting.push(entry);
      this.arrived?.();
    });
  }
  /** EntraRedisAuth sets no deadlines: this one fires only by being cancelled. */
  deadline(_ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
  }
  /** Resolves with the next sleep the loop starts. */
  async next(): Promise<{ ms: number; release: () => void }> {
    while (this.waiting.length === 0) await new Promise<void>((resolve) => (this.arrived = resolve));
    return this.waiting.shift()!;
  }
}

class FakeCredential {
  readonly scopes: string[] = [];
  readonly queue: ({ token: string; lifetimeMs: number } | Error)[] = [];
  constructor(private readonly clock: ManualClock) {}
  async getToken(scope: string | string[]) {
    this.scopes.push(String(scope));
    const next = this.queue.shift();
    if (next === undefined) throw new Error("no token scripted");
    if (next instanceof Error) throw next;
    return { token: next.token, expiresOnTimestamp: this.clock.now() + next.lifetimeMs };
  }
}

function setup() {
  const clock = new ManualClock();
  const sleeper = new GatedSleeper(clock);
  const credential = new FakeCredential(clock);
  const logger = new MemoryLogger();
  const auth = new EntraRedisAuth({ credential, clock, sleeper, logger, minRefreshDelayMs: 1_000, maxRetryDelayMs: 8_000 });
  return { clock, sleeper, credential, logger, auth };
}

const HOUR = 3_600_000;

describe("EntraRedisAuth", () => {
  it("uses the token's oid as the username and the token as the password, for the Redis scope", async () => {
    const { credential, auth } = setup();
    const token = fakeJwt({ oid: "11111111-2222-3333-4444-555555555555" });
    credential.queue.push({ token, lifetimeMs: HOUR });
    const [initial, subscription] = await auth.forClient().subscribe({ onNext: () => undefined, onError: () => undefined });
    assert.deepEqual(initial, { username: "11111111-2222-3333-4444-555555555555", password: token });
    assert.deepEqual(credential.scopes, ["https://redis.azure.com/.default"]);
    subscription.dispose();
    auth.close();
  });

  it("refuses a token without an oid claim and keeps the token out of the error", async () => {
    const { credential, auth } = setup();
    const token = fakeJwt({ sub: "CANARY-no-oid" });
    credential.queue.push({ token, lifetimeMs: HOUR });
    await assert.rejects(auth.forClient().subscribe({ onNext: () => undefined, onError: () => undefined }), (error: Error) => {
      assert.match(error.message, /oid/);
      assert.ok(!error.message.includes(token) && !error.message.includes("CANARY"));
      return true;
    });
    auth.close();
  });

  it("replaces the token at three quarters of its lifetime and hands it to every client, once per client", async () => {
    const { credential, sleeper, auth, logger } = setup();
    const first = fakeJwt({ oid: "oid-a" });
    const second = fakeJwt({ oid: "oid-a", n: 2 });
    credential.queue.push({ token: first, lifetimeMs: HOUR }, { token: second, lifetimeMs: HOUR });
    const commandUpdates: RedisAuth[] = [];
    const subscriberUpdates: RedisAuth[] = [];
    const commandProvider = auth.forClient();
    const subscriberProvider = auth.forClient();
    const noop = () => undefined;
    await commandProvider.subscribe({ onNext: (c) => commandUpdates.push({ ...c, password: "stale-listener" }), onError: noop });
    // node-redis subscribes again on every reconnect without disposing: only the latest listener may hear.
    await commandProvider.subscribe({ onNext: (c) => commandUpdates.push(c), onError: noop });
    await subscriberProvider.subscribe({ onNext: (c) => subscriberUpdates.push(c), onError: noop });
    assert.equal(credential.scopes.length, 1, "one token serves both clients");

    const wait = await sleeper.next();
    assert.equal(wait.ms, 0.75 * HOUR);
    wait.release();
    await sleeper.next(); // the loop is waiting for the following refresh
    assert.deepEqual(commandUpdates, [{ username: "oid-a", password: second }]);
    assert.deepEqual(subscriberUpdates, [{ username: "oid-a", password: second }]);
    for (const line of logger.lines) assert.ok(!line.includes(first) && !line.includes(second));
    auth.close();
  });

  it("retries a failed token request with growing delays and keeps going once it succeeds", async () => {
    const { credential, sleeper, auth, logger } = setup();
    const first = fakeJwt({ oid: "oid-b" });
    const renewed = fakeJwt({ oid: "oid-b", n: 2 });
    credential.queue.push({ token: first, lifetimeMs: HOUR }, new Error("IMDS down"), new Error("IMDS down"), { token: renewed, lifetimeMs: HOUR });
    const updates: RedisAuth[] = [];
    await auth.forClient().subscribe({ onNext: (c) => updates.push(c), onError: () => undefined });

    (await sleeper.next()).release(); // until refresh time
    const firstRetry = await sleeper.next();
    assert.equal(firstRetry.ms, 1_000);
    firstRetry.release();
    (await sleeper.next()).release(); // loop delay (floor) before the next attempt
    const secondRetry = await sleeper.next();
    assert.equal(secondRetry.ms, 2_000);
    secondRetry.release();
    (await sleeper.next()).release();
    await sleeper.next();
    assert.deepEqual(updates, [{ username: "oid-b", password: renewed }]);
    assert.equal(logger.events("redis_token_refresh_failed").length, 2);
    auth.close();
  });
});
