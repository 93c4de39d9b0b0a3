import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RedisCredentialStore } from "../../../shared/cache/encrypted-credential-store.js";
import { PeerFlightError, RedisFleetCoordinator } from "../../../shared/cache/fleet-single-flight.js";
import type { FlightTimings } from "../../../shared/cache/lease-wait.js";
import { createRedisConnection, type RedisConnection } from "../../../shared/cache/redis-connection.js";
import { RedisKeys } from "../../../shared/cache/redis-keys.js";
import { BrokerError, isBrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { fingerprint } from "../../../shared/log/fingerprint.js";
import type { IssuedCredential } from "../../../shared/providers/credential.js";
import { FileSecretStore } from "../../../shared/secrets/file-store.js";
import { systemClock, systemSleeper } from "../../../functions/system.js";
import { startRedisServer, type RedisServer } from "../../../dev/redis-server.js";
import { redisSkipReason } from "../../support/redis-skip.js";

const skip = redisSkipReason();

function credential(lifetimeMs = 3_600_000, issuedAt = Date.now()): IssuedCredential {
  const accessToken = `CANARY-${randomBytes(12).toString("hex")}`;
  return {
    tokenType: "Bearer",
    accessToken,
    headers: { Authorization: `Bearer ${accessToken}` },
    expiresAt: issuedAt + lifetimeMs,
    issuedAt,
    fingerprint: fingerprint(accessToken),
  };
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A partner call the test completes (or fails) by hand. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Keys whose completion channel nobody publishes on: every announcement is "lost". */
class DeafKeys extends RedisKeys {
  override flightChannel(): string {
    return `${this.prefix}nobody-publishes-here`;
  }
}

describe("RedisFleetCoordinator", { skip }, () => {
  let server: RedisServer;
  let dir: string;
  const connections: RedisConnection[] = [];
  let prefixCounter = 0;

  /** One broker instance: its own connections, store and coordinator, sharing Redis and the secret store. */
  async function instance(prefix: string, options: Partial<FlightTimings> & { keys?: RedisKeys; url?: string } = {}) {
    const logger = new MemoryLogger();
    const connection = createRedisConnection({ url: options.url ?? server.url, logger, clock: systemClock, sleeper: systemSleeper, maxReconnectDelayMs: 100 });
    connections.push(connection);
    assert.equal(await connection.whenReady(), true);
    const keys = options.keys ?? new RedisKeys(prefix);
    const secrets = new FileSecretStore(join(dir, prefix.replace(/\W/g, "")), { clock: systemClock });
    const store = new RedisCredentialStore({ connection, secrets, clock: systemClock, logger, keys });
    const { keys: _keys, url: _url, ...timings } = options;
    const fleet = new RedisFleetCoordinator({ connection, results: store, clock: systemClock, sleeper: systemSleeper, logger, keys, timings });
    return { connection, store, fleet, logger, prefix, keys };
  }
  const freshPrefix = () => `fleet${++prefixCounter}:`;

  /** Polls until a condition holds: the tests wait on Redis state, not on guessed delays. */
  async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await delay(5);
    }
  }

  /** Resolves once some instance holds the flight lease of `key`. */
  function leaseTaken(via: { connection: RedisConnection; keys: RedisKeys }, key: string): Promise<void> {
    return until(async () => {
      const r = await via.connection.run("exists", (c) => c.exists(via.keys.flightLock(key)));
      return r.ok && r.value === 1;
    }, "the lease is taken");
  }

  before(async () => {
    server = await startRedisServer();
    dir = mkdtempSync(join(tmpdir(), "broker-fleet-"));
  });
  after(async () => {
    for (const c of connections) await c.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("makes exactly one partner call for 200 concurrent calls spread over four instances", async () => {
    const prefix = freshPrefix();
    const fleet = await Promise.all([1, 2, 3, 4].map(() => instance(prefix)));
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      await delay(100);
      return credential();
    };
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => fleet[i % 4]!.fleet.singleFlight("flowe:abc", fetch)));
    assert.equal(fetches, 1);
    assert.equal(new Set(results.map((r) => r.fingerprint)).size, 1, "everyone got the same credential");
    assert.deepEqual(await fleet[3]!.store.get("flowe:abc"), results[0], "the holder wrote it to the store");
  });

  it("answers from the store when a peer has just stored a credential, but never with the old one it is replacing", async () => {
    const prefix = freshPrefix();
    const a = await instance(prefix);
    const recent = credential();
    await a.store.put("kalibrate:k", recent);
    let fetches = 0;
    const result = await a.fleet.singleFlight("kalibrate:k", async () => {
      fetches++;
      return credential();
    });
    assert.equal(fetches, 0);
    assert.deepEqual(result, recent);

    // Due for refresh: issued long ago. The flight must call the partner.
    const old = credential(3_600_000, Date.now() - 2_700_000);
    await a.store.put("kalibrate:due", old);
    const replacement = credential();
    const refreshed = await a.fleet.singleFlight("kalibrate:due", async () => {
      fetches++;
      return replacement;
    });
    assert.equal(fetches, 1);
    assert.deepEqual(refreshed, replacement);
    assert.deepEqual(await a.store.get("kalibrate:due"), replacement);
  });

  it("lets another instance take over within the lock TTL when the holder dies mid-flight", async () => {
    const prefix = freshPrefix();
    const lockTtlMs = 400;
    const holder = await instance(prefix, { lockTtlMs });
    const survivor = await instance(prefix, { lockTtlMs, waitMarginMs: 300, maxPollMs: 50 });
    const stuck = deferred<IssuedCredential>();
    const abandoned = holder.fleet.singleFlight("ayyeka:k", () => stuck.promise);
    abandoned.catch(() => undefined);
    await leaseTaken(holder, "ayyeka:k");
    await holder.connection.close(); // the instance is gone; its lease lives on until the TTL

    const started = Date.now();
    let fetches = 0;
    const fromSurvivor = credential();
    const result = await survivor.fleet.singleFlight("ayyeka:k", async () => {
      fetches++;
      return fromSurvivor;
    });
    const elapsed = Date.now() - started;
    assert.deepEqual(result, fromSurvivor);
    assert.equal(fetches, 1);
    assert.ok(elapsed < lockTtlMs + 300, `took over after ${elapsed} ms`);
    assert.equal(survivor.logger.events("fleet_flight_takeover").length, 1);
    stuck.resolve(credential());
  });

  it("fails every waiter with the holder's error code, without a partner call of their own and without its message", async () => {
    const prefix = freshPrefix();
    const holder = await instance(prefix);
    const other = await instance(prefix);
    const partner = deferred<IssuedCredential>();
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    const original = new BrokerError("upstream_unavailable", `partner said ${canary}`, { retryAfterSec: 7 });
    const leading = holder.fleet.singleFlight("silverflow:k", () => partner.promise);
    await leaseTaken(holder, "silverflow:k");
    let otherFetches = 0;
    const waiting = Array.from({ length: 20 }, () =>
      other.fleet.singleFlight("silverflow:k", async () => {
        otherFetches++;
        return credential();
      }),
    );
    await until(() => other.fleet.waiting === 20, "all 20 calls wait for the holder");
    partner.reject(original);

    await assert.rejects(leading, (error) => error === original, "the holder's own error is rethrown as is");
    for (const result of await Promise.allSettled(waiting)) {
      assert.equal(result.status, "rejected");
      const error = result.reason as unknown;
      assert.ok(error instanceof PeerFlightError && isBrokerError(error));
      assert.equal(error.code, "upstream_unavailable");
      assert.equal(error.retryAfterSec, 7);
      assert.ok(!error.message.includes(canary) && !error.detail.includes(canary));
    }
    assert.equal(otherFetches, 0);
    for (const line of [...holder.logger.lines, ...other.logger.lines]) assert.ok(!line.includes(canary));
  });

  it("still finishes waiters by polling when completion messages are lost", async () => {
    const prefix = freshPrefix();
    const holder = await instance(prefix);
    const deaf = await instance(prefix, { keys: new DeafKeys(prefix), maxPollMs: 50 });
    const partner = deferred<IssuedCredential>();
    const leading = holder.fleet.singleFlight("phixflow:k", () => partner.promise);
    await leaseTaken(holder, "phixflow:k");
    let deafFetches = 0;
    const waiting = deaf.fleet.singleFlight("phixflow:k", async () => {
      deafFetches++;
      return credential();
    });
    await until(() => deaf.fleet.waiting === 1, "the deaf instance waits");
    const value = credential();
    partner.resolve(value);
    assert.deepEqual(await leading, value);
    assert.deepEqual(await waiting, value);
    assert.equal(deafFetches, 0);
  });

  it("does not let a holder that outlived its lease overwrite its successor's result", async () => {
    const prefix = freshPrefix();
    const slow = await instance(prefix, { lockTtlMs: 200 });
    const fast = await instance(prefix, { lockTtlMs: 200, waitMarginMs: 100 });
    const late = deferred<IssuedCredential>();
    const stale = slow.fleet.singleFlight("flowe:fence", () => late.promise);
    await leaseTaken(slow, "flowe:fence");
    const successor = credential();
    const result = await fast.fleet.singleFlight("flowe:fence", async () => successor);
    assert.deepEqual(result, successor);
    const lateValue = credential();
    late.resolve(lateValue);
    assert.deepEqual(await stale, lateValue, "the stale holder still gets its own result");
    assert.deepEqual(await fast.store.get("flowe:fence"), successor);
  });

  it("does not store a leader's result once shouldStore calls it stale, and a waiter takes over", async () => {
    const prefix = freshPrefix();
    const leader = await instance(prefix);
    const other = await instance(prefix, { maxPollMs: 50 });
    const partner = deferred<IssuedCredential>();
    // The flight began before an operator refresh: its credential must not reach the fleet.
    const stale = leader.fleet.singleFlight("flowe:epoch", () => partner.promise, { shouldStore: () => false });
    await leaseTaken(leader, "flowe:epoch");
    let otherFetches = 0;
    const fresh = credential();
    const waiting = other.fleet.singleFlight("flowe:epoch", async () => {
      otherFetches++;
      return fresh;
    });
    await until(() => other.fleet.waiting === 1, "the other instance waits");
    const staleValue = credential();
    partner.resolve(staleValue);
    assert.deepEqual(await stale, staleValue, "the leader's own callers still get its result");
    assert.deepEqual(await waiting, fresh);
    assert.equal(otherFetches, 1);
    assert.deepEqual(await other.store.get("flowe:epoch"), fresh);
  });

  it("fetches locally after a few failed state reads when Redis hangs, instead of waiting out the lease", async () => {
    const own = await startRedisServer();
    try {
      const prefix = freshPrefix();
      const lockTtlMs = 10_000;
      const holder = await instance(prefix, { url: own.url, lockTtlMs });
      const waiter = await instance(prefix, { url: own.url, lockTtlMs });
      const partner = deferred<IssuedCredential>();
      const leading = holder.fleet.singleFlight("kalibrate:hang", () => partner.promise);
      await leaseTaken(holder, "kalibrate:hang");
      let fetches = 0;
      const value = credential();
      const waiting = waiter.fleet.singleFlight("kalibrate:hang", async () => {
        fetches++;
        return value;
      });
      await until(() => waiter.fleet.waiting === 1, "the waiter follows the holder");
      own.pause(); // SIGSTOP: connections stay open, every command times out
      const started = Date.now();
      assert.deepEqual(await waiting, value);
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 3_000, `fetched locally after ${elapsed} ms (lease ${lockTtlMs} ms)`);
      assert.equal(fetches, 1);
      assert.equal(waiter.fleet.degradedFetches, 1);
      own.resume();
      partner.resolve(credential());
      await leading;
    } finally {
      own.resume();
      await own.stop();
    }
  });

  it("runs the partner call locally, without throwing, while Redis is down, and coordinates again after a restart", async () => {
    const own = await startRedisServer();
    try {
      const a = await instance(freshPrefix(), { url: own.url });
      await own.kill();
      const value = credential();
      let fetches = 0;
      const result = await a.fleet.singleFlight("flowe:down", async () => {
        fetches++;
        return value;
      });
      assert.deepEqual(result, value);
      assert.equal(fetches, 1);
      assert.equal(a.fleet.degradedFetches, 1);
      await assert.rejects(
        a.fleet.singleFlight("flowe:down", async () => {
          throw new BrokerError("upstream_rejected", "rejected");
        }),
        (error) => isBrokerError(error) && error.code === "upstream_rejected",
        "a partner failure still reaches the caller",
      );

      await own.restart();
      assert.equal(await a.connection.whenReady(), true);
      const b = await instance(a.prefix, { url: own.url });
      let coordinated = 0;
      const fetch = async () => {
        coordinated++;
        await delay(50);
        return credential();
      };
      await Promise.all([a.fleet.singleFlight("flowe:back", fetch), b.fleet.singleFlight("flowe:back", fetch)]);
      assert.equal(coordinated, 1, "coordinated again after the restart");
    } finally {
      await own.stop();
    }
  });
});
