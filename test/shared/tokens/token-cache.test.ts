import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import type { CachePolicy } from "../../../shared/config/provider-base-schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import type { IssuedCredential } from "../../../shared/providers/credential.js";
import type { FleetBackplane, FleetCoordinator, FleetFlightOptions } from "../../../shared/tokens/backplane.js";
import { TokenCache, type TokenCacheDeps } from "../../../shared/tokens/token-cache.js";
import { ScriptedTokenSource } from "../../fakes/scripted-token-source.js";
import { ManualClock } from "../../support/manual-clock.js";

const SEC = 1000;
const POLICY: CachePolicy = { refreshAheadFraction: 0.75, refreshFloorSec: 120, jitterSec: 30, defaultTtlSec: 3600, maxTtlSec: 86400 };
// With random() = 0 a 3600 s credential is due for refresh exactly 2700 s after it was issued.
const DUE_MS = 2700 * SEC;

/** Lets every pending promise continuation run; everything here is in-memory, so one turn is enough. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

type SharedCredentialStore = Pick<FleetBackplane, "get" | "put"> & { delete(key: string): Promise<void> };
type InvalidationBus = Pick<FleetBackplane, "publish" | "subscribe">;

/** The parts of the fleet a test fakes: a shared store, a single-flight coordinator, a bus. */
interface FleetParts {
  shared?: SharedCredentialStore;
  fleet?: FleetCoordinator;
  invalidations?: InvalidationBus;
}

/** The one backplane the cache sees, assembled from the faked parts; a part left out does nothing. */
function backplaneOf(parts: FleetParts): FleetBackplane | undefined {
  const { shared, fleet, invalidations } = parts;
  if (!shared && !fleet && !invalidations) return undefined;
  return {
    get: async (key) => shared?.get(key),
    put: async (key, credential) => shared?.put(key, credential),
    forget: async (_provider, keys) => {
      for (const key of keys) await shared?.delete(key);
    },
    singleFlight: fleet && ((key, fetch, flight) => fleet.singleFlight(key, fetch, flight)),
    publish: async (provider) => invalidations?.publish(provider),
    subscribe: (listener) => invalidations?.subscribe(listener),
  };
}

function setup(deps: Partial<TokenCacheDeps> & FleetParts = {}, options: { lifetimeSec?: number; tokenPrefix?: string } = {}) {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const { shared, fleet, invalidations, ...rest } = deps;
  const cache = new TokenCache({ clock, random: () => 0, logger, backplane: backplaneOf({ shared, fleet, invalidations }), ...rest });
  const source = new ScriptedTokenSource("flowe", clock, options);
  return { clock, logger, cache, source };
}

function unavailable(): BrokerError {
  return new BrokerError("upstream_unavailable", "Partner unavailable.", { retryAfterSec: 5 });
}

class MemorySharedStore implements SharedCredentialStore {
  readonly values = new Map<string, IssuedCredential>();
  readonly calls: string[] = [];
  async get(key: string): Promise<IssuedCredential | undefined> {
    this.calls.push(`get ${key}`);
    return this.values.get(key);
  }
  async put(key: string, credential: IssuedCredential): Promise<void> {
    this.calls.push(`put ${key}`);
    this.values.set(key, credential);
  }
  async delete(key: string): Promise<void> {
    this.calls.push(`delete ${key}`);
    this.values.delete(key);
  }
}

/** A shared store whose backend is down (e.g. Redis unreachable). */
class BrokenSharedStore implements SharedCredentialStore {
  calls = 0;
  async get(): Promise<IssuedCredential | undefined> {
    this.calls++;
    throw new Error("ECONNREFUSED");
  }
  async put(): Promise<void> {
    this.calls++;
    throw new Error("ECONNREFUSED");
  }
  async delete(): Promise<void> {
    this.calls++;
    throw new Error("ECONNREFUSED");
  }
}

/**
 * Runs the fetch locally (as the leader would), recording the keys it was asked for, and writes the
 * result to `shared` as the real coordinator does: only while `shouldStore()` allows it.
 */
class RecordingFleet implements FleetCoordinator {
  readonly keys: string[] = [];
  constructor(private readonly shared?: SharedCredentialStore) {}
  async singleFlight(key: string, fetch: () => Promise<IssuedCredential>, options: FleetFlightOptions = {}): Promise<IssuedCredential> {
    this.keys.push(key);
    const credential = await fetch();
    if (this.shared && (options.shouldStore?.() ?? true)) await this.shared.put(key, credential);
    return credential;
  }
}

class BrokenFleet implements FleetCoordinator {
  calls = 0;
  async singleFlight(): Promise<IssuedCredential> {
    this.calls++;
    throw new Error("lock service down");
  }
}

class MemoryBus implements InvalidationBus {
  readonly published: string[] = [];
  private readonly listeners: ((provider: string) => void)[] = [];
  async publish(provider: string): Promise<void> {
    this.published.push(provider);
  }
  subscribe(listener: (provider: string) => void): void {
    this.listeners.push(listener);
  }
  deliver(provider: string): void {
    for (const listener of this.listeners) listener(provider);
  }
}

describe("TokenCache hits and misses", () => {
  it("fetches on the first request and serves the cached credential afterwards", async () => {
    const { cache, source, clock } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    clock.advance(600 * SEC);
    const second = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(first.outcome, "miss");
    assert.equal(second.outcome, "hit");
    assert.equal(second.credential.accessToken, first.credential.accessToken);
    assert.equal(second.cacheKey, "flowe:v1");
    assert.equal(source.issueCalls.length, 1);
    assert.equal(source.issueCalls[0]?.options.force, false);
    assert.equal(source.prepareCalls, 2);
  });

  it("refetches when the cached credential has less than min_ttl left", async () => {
    const { cache, source, clock } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 0 });
    clock.advance(3550 * SEC); // 50 s left
    const second = await cache.get(source, POLICY, { minTtlSec: 60 });
    assert.equal(second.outcome, "miss");
    assert.notEqual(second.credential.accessToken, first.credential.accessToken);
    assert.ok(second.credential.expiresAt - clock.now() >= 60 * SEC);
    assert.equal(source.issueCalls.length, 2);
  });

  it("serves a credential with exactly min_ttl left", async () => {
    const { cache, source, clock } = setup();
    await cache.get(source, POLICY, { minTtlSec: 0 });
    clock.advance(3540 * SEC);
    const result = await cache.get(source, POLICY, { minTtlSec: 60 });
    assert.equal(result.outcome, "hit");
  });

  it("rejects a min_ttl longer than the provider's lifetime with bad_request, without fetching again", async () => {
    const { cache, source } = setup({}, { lifetimeSec: 300 });
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 600 }), (error: unknown) => {
      assert.ok(error instanceof BrokerError);
      assert.equal(error.code, "bad_request");
      assert.match(error.detail, /min_ttl exceeds the lifetime this provider issues \(300 s\)/);
      return true;
    });
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 600 }), { code: "bad_request" });
    assert.equal(source.issueCalls.length, 1);
    // The credential fetched for the rejected caller serves everyone else.
    const ok = await cache.get(source, POLICY, { minTtlSec: 60 });
    assert.equal(ok.outcome, "hit");
    assert.equal(source.issueCalls.length, 1);
  });

  it("calls the partner again once a short-lived credential has expired instead of refusing min_ttl forever", async () => {
    const { cache, source, clock } = setup();
    source.willIssue(20); // e.g. the partner handed back its own cached token with 20 s left
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 30 }), { code: "bad_request" });
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 30 }), { code: "bad_request" });
    assert.equal(source.issueCalls.length, 1, "no partner call while the short credential is valid");
    clock.advance(21 * SEC);
    const result = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(result.outcome, "miss");
    assert.equal(source.issueCalls.length, 2);
  });

  it("refuses a min_ttl above the lifetime actually delivered without calling the partner again", async () => {
    const { cache, source, clock } = setup({}, { lifetimeSec: 3599 });
    // The partner answers 200 ms after the request; the credential's issuedAt is the request time.
    const prepare = source.prepare.bind(source);
    source.prepare = async () => {
      const prepared = await prepare();
      return {
        ...prepared,
        issue: async (options) => {
          const credential = await prepared.issue(options);
          clock.advance(200);
          return credential;
        },
      };
    };
    for (let i = 0; i < 3; i++) {
      await assert.rejects(cache.get(source, POLICY, { minTtlSec: 3599 }), (error: unknown) => {
        assert.ok(error instanceof BrokerError);
        assert.equal(error.code, "bad_request");
        assert.match(error.detail, /\(3598 s\)/);
        return true;
      });
      clock.advance(SEC);
    }
    assert.equal(source.issueCalls.length, 1);
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 3500 })).outcome, "hit");
  });

  it("makes exactly one partner call for 1000 concurrent requests on a cold cache", async () => {
    const { cache, source } = setup();
    const deferred = source.willDefer();
    const requests = Array.from({ length: 1000 }, () => cache.get(source, POLICY, { minTtlSec: 30 }));
    await deferred.started;
    deferred.resolve();
    const results = await Promise.all(requests);
    assert.equal(source.issueCalls.length, 1);
    assert.equal(new Set(results.map((r) => r.credential.accessToken)).size, 1);
    assert.ok(results.every((r) => r.outcome === "miss"));
  });

  it("gives every waiting caller the partner's error and caches nothing", async () => {
    const { cache, source } = setup();
    const deferred = source.willDefer();
    const requests = Array.from({ length: 20 }, () => cache.get(source, POLICY, { minTtlSec: 30 }));
    await deferred.started;
    deferred.reject(unavailable());
    const settled = await Promise.allSettled(requests);
    assert.ok(settled.every((s) => s.status === "rejected" && (s.reason as BrokerError).code === "upstream_unavailable"));
    assert.equal(cache.state("flowe").cacheKey, undefined);
    assert.equal(cache.state("flowe").lastError?.code, "upstream_unavailable");
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "miss");
    assert.equal(source.issueCalls.length, 2);
  });

  it("turns an unexpected error from the source into an internal BrokerError", async () => {
    const { cache, source } = setup();
    source.willFail(new TypeError("boom"));
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 30 }), (error: unknown) => {
      assert.ok(error instanceof BrokerError);
      assert.equal(error.code, "internal");
      return true;
    });
    source.prepareError = new Error("vault down");
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 30 }), { code: "internal" });
  });
});

describe("TokenCache expiry", () => {
  it("fails instead of serving an expired credential when the partner is down", async () => {
    const { cache, source, clock } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 0 });
    clock.advance(3600 * SEC); // exactly expiresAt
    source.willFail(unavailable());
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 0 }), { code: "upstream_unavailable" });
    clock.advance(60 * SEC);
    source.willFail(unavailable());
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 0 }), (error: unknown) => {
      assert.ok(error instanceof BrokerError);
      assert.equal(error.code, "upstream_unavailable");
      return true;
    });
    assert.ok(first.credential.expiresAt <= clock.now());
  });
});

describe("TokenCache refresh ahead", () => {
  it("does not refresh before refreshAt", async () => {
    const { cache, source, clock } = setup();
    await cache.get(source, POLICY, { minTtlSec: 30 });
    clock.advance(DUE_MS - 1);
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await flush();
    assert.equal(source.issueCalls.length, 1);
    assert.equal(cache.state("flowe").refreshAt, clock.now() + 1);
  });

  it("starts one background refresh at refreshAt and serves the old credential meanwhile", async () => {
    const { cache, source, clock } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    clock.advance(DUE_MS);
    const deferred = source.willDefer();
    const during = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(during.outcome, "hit");
    assert.equal(during.credential.accessToken, first.credential.accessToken);
    await deferred.started;
    assert.equal(cache.state("flowe").refreshing, true);

    const concurrent = await Promise.all(Array.from({ length: 200 }, () => cache.get(source, POLICY, { minTtlSec: 30 })));
    assert.ok(concurrent.every((r) => r.outcome === "hit" && r.credential.accessToken === first.credential.accessToken));
    assert.equal(source.issueCalls.length, 2);

    deferred.resolve();
    await flush();
    const after = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(after.outcome, "hit");
    assert.notEqual(after.credential.accessToken, first.credential.accessToken);
    assert.equal(cache.state("flowe").refreshing, false);
    assert.equal(cache.state("flowe").lastRefreshAt, clock.now());
    assert.equal(source.issueCalls.length, 2);
  });

  it("lets a caller whose min_ttl the old credential misses join the background refresh", async () => {
    const { cache, source, clock } = setup();
    await cache.get(source, POLICY, { minTtlSec: 30 });
    clock.advance(DUE_MS);
    const deferred = source.willDefer();
    await cache.get(source, POLICY, { minTtlSec: 30 }); // starts the refresh
    await deferred.started;
    const demanding = cache.get(source, POLICY, { minTtlSec: 1200 }); // 900 s left: not enough
    await flush(); // it is now waiting on the refresh, which cannot finish before resolve()
    deferred.resolve();
    const result = await demanding;
    assert.equal(result.outcome, "miss");
    assert.equal(source.issueCalls.length, 2);
  });

  it("keeps serving the valid credential when a background refresh fails and records the error", async () => {
    const { cache, source, clock, logger } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    clock.advance(DUE_MS);
    source.willFail(unavailable());
    const during = await cache.get(source, POLICY, { minTtlSec: 30 });
    await flush();
    assert.equal(during.credential.accessToken, first.credential.accessToken);

    const state = cache.state("flowe");
    assert.deepEqual(state.lastError, { code: "upstream_unavailable", detail: "Partner unavailable.", at: clock.now() });
    assert.equal(state.refreshing, false);
    const logged = logger.events("token_refresh_failed");
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.provider, "flowe");
    assert.equal(logged[0]?.code, "upstream_unavailable");

    const later = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(later.outcome, "hit");
    assert.equal(later.credential.accessToken, first.credential.accessToken);
    // Backs off instead of calling the partner on every request...
    assert.equal(source.issueCalls.length, 2);
    // ...and tries again later, which succeeds.
    clock.advance(30 * SEC);
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await flush();
    assert.equal(source.issueCalls.length, 3);
    const recovered = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.notEqual(recovered.credential.accessToken, first.credential.accessToken);
  });
});

describe("TokenCache forced refresh", () => {
  it("obtains a new credential with force even when the cached one is fresh", async () => {
    const { cache, source } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    const forced = await cache.get(source, POLICY, { minTtlSec: 0, force: true });
    assert.equal(forced.outcome, "forced");
    assert.notEqual(forced.credential.accessToken, first.credential.accessToken);
    assert.equal(source.issueCalls[1]?.options.force, true);
    const next = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(next.outcome, "hit");
    assert.equal(next.credential.accessToken, forced.credential.accessToken);
  });

  it("joins a forced fetch in flight but not a non-forced one, and keeps the forced result", async () => {
    const { cache, source } = setup();
    const normal = source.willDefer();
    const miss = cache.get(source, POLICY, { minTtlSec: 30 });
    await normal.started;
    const forcedCall = source.willDefer();
    const forcedA = cache.get(source, POLICY, { minTtlSec: 0, force: true });
    const forcedB = cache.get(source, POLICY, { minTtlSec: 0, force: true });
    await forcedCall.started;
    assert.equal(source.issueCalls.length, 2);
    assert.equal(source.issueCalls[1]?.options.force, true);
    await flush(); // forcedB has joined the pending forced call by now

    forcedCall.resolve();
    const [a, b] = await Promise.all([forcedA, forcedB]);
    assert.equal(a.credential.accessToken, b.credential.accessToken);
    // The older, non-forced fetch finishing last must not replace the operator's credential.
    normal.resolve();
    await miss;
    const next = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(next.credential.accessToken, a.credential.accessToken);
  });
});

describe("TokenCache cache keys", () => {
  it("fetches a new credential when the cache key changes and drops the old one", async () => {
    const { cache, source } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    source.cacheKey = "flowe:v2";
    const second = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(second.outcome, "miss");
    assert.equal(second.cacheKey, "flowe:v2");
    assert.notEqual(second.credential.accessToken, first.credential.accessToken);
    assert.equal(source.issueCalls[1]?.cacheKey, "flowe:v2");
    assert.equal(cache.state("flowe").cacheKey, "flowe:v2");
    // The old entry is gone: asking for the old key again is a miss.
    source.cacheKey = "flowe:v1";
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "miss");
  });

  it("serves the previous key's credential only while the new key's fetch fails", async () => {
    const { cache, source, logger } = setup();
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    source.cacheKey = "flowe:v2";
    source.willFail(unavailable());
    const fallback = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(fallback.credential.accessToken, first.credential.accessToken);
    assert.equal(fallback.cacheKey, "flowe:v1");
    assert.equal(logger.events("token_served_previous_key").length, 1);
    const fresh = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(fresh.cacheKey, "flowe:v2");
    assert.equal(fresh.outcome, "miss");
    source.cacheKey = "flowe:v1"; // the old entry was dropped once the new one was in
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "miss");
  });
});

describe("TokenCache invalidation", () => {
  it("drops the provider's credentials so the next request fetches", async () => {
    const { cache, source } = setup();
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await cache.invalidate("flowe");
    assert.equal(cache.state("flowe").cacheKey, undefined);
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "miss");
    assert.equal(source.issueCalls.length, 2);
  });

  it("does not cache a credential whose fetch started before the invalidation", async () => {
    const { cache, source } = setup();
    const deferred = source.willDefer();
    const before = cache.get(source, POLICY, { minTtlSec: 30 });
    await deferred.started;
    await cache.invalidate("flowe");
    deferred.resolve();
    await before; // its caller asked before the invalidation and still gets an answer
    assert.equal(cache.state("flowe").cacheKey, undefined);
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "miss");
    assert.equal(source.issueCalls.length, 2);
  });

  it("does not let requests after an invalidation join a fetch started before it", async () => {
    const { cache, source } = setup();
    const old = source.willDefer();
    const before = cache.get(source, POLICY, { minTtlSec: 30 });
    await old.started;
    await cache.invalidate("flowe");
    const fresh = source.willDefer();
    const after = cache.get(source, POLICY, { minTtlSec: 30 });
    await fresh.started;
    assert.equal(source.issueCalls.length, 2);
    fresh.resolve();
    old.resolve();
    const [oldResult, freshResult] = await Promise.all([before, after]);
    assert.notEqual(freshResult.credential.accessToken, oldResult.credential.accessToken);
    const next = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(next.credential.accessToken, freshResult.credential.accessToken);
  });

  it("deletes in the shared store, broadcasts on request, and drops on remote messages without echoing", async () => {
    const shared = new MemorySharedStore();
    const bus = new MemoryBus();
    const { cache, source } = setup({ shared, invalidations: bus });
    await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.ok(shared.values.has("flowe:v1"));

    await cache.invalidate("flowe", { broadcast: true });
    assert.equal(shared.values.has("flowe:v1"), false);
    assert.deepEqual(bus.published, ["flowe"]);

    await cache.get(source, POLICY, { minTtlSec: 30 });
    bus.deliver("flowe");
    assert.equal(cache.state("flowe").cacheKey, undefined);
    assert.deepEqual(bus.published, ["flowe"]);
    await cache.invalidate("flowe");
    assert.deepEqual(bus.published, ["flowe"]);
  });
});

describe("TokenCache operator refresh and revoke", () => {
  it("refreshNow keeps serving the credential in service while the new one is on its way", async () => {
    const { cache, source } = setup();
    const old = await cache.get(source, POLICY, { minTtlSec: 30 });
    const pending = source.willDefer();
    const refreshing = cache.refreshNow(source, POLICY);
    await pending.started;
    const during = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(during.credential.accessToken, old.credential.accessToken);
    pending.resolve();
    const fresh = await refreshing;
    assert.equal(fresh.outcome, "forced");
    assert.equal(source.issueCalls[1]?.options.force, true);
    const after = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(after.credential.accessToken, fresh.credential.accessToken);
  });

  it("refreshNow that fails leaves the credential in service untouched", async () => {
    const shared = new MemorySharedStore();
    const bus = new MemoryBus();
    const { cache, source } = setup({ shared, invalidations: bus });
    const old = await cache.get(source, POLICY, { minTtlSec: 30 });
    source.willFail(unavailable());
    await assert.rejects(cache.refreshNow(source, POLICY), (e: unknown) => e instanceof BrokerError && e.code === "upstream_unavailable");
    const served = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(served.credential.accessToken, old.credential.accessToken);
    assert.equal(shared.values.get("flowe:v1")?.accessToken, old.credential.accessToken, "the shared copy is kept too");
    assert.deepEqual(bus.published, [], "no instance is told to drop anything");
    assert.equal(cache.state("flowe").lastError?.code, "upstream_unavailable");
  });

  it("refreshNow tells the other instances only once the new credential is in the shared store", async () => {
    const shared = new MemorySharedStore();
    const bus = new MemoryBus();
    const { cache, source } = setup({ shared, invalidations: bus });
    await cache.get(source, POLICY, { minTtlSec: 30 });
    const fresh = await cache.refreshNow(source, POLICY);
    assert.deepEqual(bus.published, ["flowe"]);
    assert.equal(shared.values.get("flowe:v1")?.accessToken, fresh.credential.accessToken);
  });

  it("revoke drops the credential here, in the shared store and on every instance", async () => {
    const shared = new MemorySharedStore();
    const bus = new MemoryBus();
    const { cache, source } = setup({ shared, invalidations: bus });
    const old = await cache.get(source, POLICY, { minTtlSec: 30 });
    await cache.revoke("flowe");
    assert.equal(cache.state("flowe").cacheKey, undefined);
    assert.equal(shared.values.has("flowe:v1"), false);
    assert.deepEqual(bus.published, ["flowe"]);
    source.willFail(unavailable());
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 30 }), (e: unknown) => e instanceof BrokerError && e.code === "upstream_unavailable");
    const next = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.notEqual(next.credential.accessToken, old.credential.accessToken);
  });
});

describe("TokenCache short lifetimes", () => {
  it("never caches nor serves a credential that expired before it arrived", async () => {
    const { cache, source, clock } = setup();
    const pending = source.willDefer();
    const asking = cache.get(source, POLICY, { minTtlSec: 0 });
    await pending.started;
    pending.resolve(2); // issued now, valid 2 s...
    clock.advance(3 * SEC); // ...but the answer took 3 s
    await assert.rejects(asking, (e: unknown) => e instanceof BrokerError && e.code === "upstream_rejected" && /expired by the time it arrived/.test(e.detail));
    assert.equal(cache.state("flowe").cacheKey, undefined);
  });

  it("refreshes a credential shorter than refreshFloorSec once, not on every request", async () => {
    const { cache, source, clock } = setup({}, { lifetimeSec: 20 });
    await cache.get(source, POLICY, { minTtlSec: 0 });
    const refreshAt = cache.state("flowe").refreshAt!;
    assert.ok(refreshAt > clock.now() && refreshAt < clock.now() + 20 * SEC);
    for (let i = 0; i < 50; i++) await cache.get(source, POLICY, { minTtlSec: 0 });
    assert.equal(source.issueCalls.length, 1, "no partner call before the refresh time");
    clock.advance(refreshAt - clock.now());
    for (let i = 0; i < 50; i++) await cache.get(source, POLICY, { minTtlSec: 0 });
    await flush();
    assert.equal(source.issueCalls.length, 2, "one background refresh, however many requests");
  });
});

describe("TokenCache second level", () => {
  it("uses a credential from the shared store on a cold miss", async () => {
    const shared = new MemorySharedStore();
    const other = setup({ shared });
    const fromOtherInstance = await other.cache.get(other.source, POLICY, { minTtlSec: 30 });
    const { cache, source, clock } = setup({ shared });
    clock.advance(60 * SEC);
    const result = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(result.outcome, "shared");
    assert.equal(result.credential.accessToken, fromOtherInstance.credential.accessToken);
    assert.equal(source.issueCalls.length, 0);
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "hit");
  });

  it("puts fetched credentials in the shared store and reads it once for concurrent misses", async () => {
    const shared = new MemorySharedStore();
    const { cache, source } = setup({ shared });
    await Promise.all(Array.from({ length: 50 }, () => cache.get(source, POLICY, { minTtlSec: 30 })));
    assert.deepEqual(shared.calls, ["get flowe:v1", "put flowe:v1"]);
    assert.equal(shared.values.get("flowe:v1")?.fingerprint, source.issued[0]?.fingerprint);
    assert.equal(source.issueCalls.length, 1);
  });

  it("ignores a shared credential with less than min_ttl left", async () => {
    const shared = new MemorySharedStore();
    const { cache, source, clock } = setup({ shared });
    const stale = await cache.get(source, POLICY, { minTtlSec: 30 });
    await cache.invalidate("flowe");
    await shared.put("flowe:v1", stale.credential);
    clock.advance(3570 * SEC);
    const result = await cache.get(source, POLICY, { minTtlSec: 60 });
    assert.equal(result.outcome, "miss");
    assert.notEqual(result.credential.accessToken, stale.credential.accessToken);
  });

  it("takes a newer credential another instance put in the shared store instead of refreshing itself", async () => {
    const shared = new MemorySharedStore();
    const a = setup({ shared });
    const b = setup({ shared }, { tokenPrefix: "b-token" });
    await a.cache.get(a.source, POLICY, { minTtlSec: 30 });
    await b.cache.get(b.source, POLICY, { minTtlSec: 30 }); // shared
    a.clock.advance(DUE_MS);
    b.clock.advance(DUE_MS);
    await a.cache.get(a.source, POLICY, { minTtlSec: 30 });
    await flush();
    assert.equal(a.source.issueCalls.length, 2);
    await b.cache.get(b.source, POLICY, { minTtlSec: 30 });
    await flush();
    assert.equal(b.source.issueCalls.length, 0);
    const served = await b.cache.get(b.source, POLICY, { minTtlSec: 30 });
    assert.equal(served.credential.accessToken, a.source.issued[1]?.accessToken);
  });

  it("degrades to the local path when the shared store throws", async () => {
    const shared = new BrokenSharedStore();
    const bus = new MemoryBus();
    const { cache, source, logger } = setup({ shared, invalidations: bus });
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(first.outcome, "miss");
    assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "hit");
    await cache.invalidate("flowe", { broadcast: true });
    assert.deepEqual(bus.published, ["flowe"]);
    const degraded = logger.events("shared_cache_degraded");
    assert.deepEqual(degraded.map((f) => f.operation), ["get", "put", "delete"]);
    assert.ok(degraded.every((f) => f.provider === "flowe" && f.error === "Error"));
    assert.ok(shared.calls >= 3);
  });

  it("wraps partner calls in the fleet single-flight", async () => {
    const shared = new MemorySharedStore();
    const fleet = new RecordingFleet(shared);
    const { cache, source } = setup({ fleet, shared });
    await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.deepEqual(fleet.keys, ["flowe:v1"]);
    assert.deepEqual(shared.calls, ["get flowe:v1", "put flowe:v1"]);
    // Forced refreshes bypass the fleet so they never receive another instance's older result.
    await cache.get(source, POLICY, { minTtlSec: 0, force: true });
    assert.deepEqual(fleet.keys, ["flowe:v1"]);
    assert.equal(source.issueCalls.length, 2);
  });

  it("tells the fleet not to store a flight's credential once an invalidation made it stale", async () => {
    const shared = new MemorySharedStore();
    const fleet = new RecordingFleet(shared);
    const { cache, source } = setup({ fleet, shared });
    const slow = source.willDefer();
    const pending = cache.get(source, POLICY, { minTtlSec: 30 });
    await slow.started;
    await cache.invalidate("flowe"); // operator refresh while the partner call runs
    slow.resolve();
    await pending;
    assert.equal(shared.values.has("flowe:v1"), false, "the pre-refresh credential is not shared");
    assert.ok(!shared.calls.some((call) => call.startsWith("put")));
    await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(shared.values.get("flowe:v1")?.fingerprint, source.issued[1]?.fingerprint);
  });

  it("leaves the shared write to the fleet coordinator (no unfenced put inside a flight)", async () => {
    const shared = new MemorySharedStore();
    // A leader whose lease ran out: the coordinator runs the fetch but must not write.
    const fleet: FleetCoordinator = { singleFlight: async (_key, fetch) => fetch() };
    const { cache, source } = setup({ fleet, shared });
    await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(source.issueCalls.length, 1);
    assert.deepEqual(shared.calls, ["get flowe:v1"]);
  });

  it("falls back to a local fetch when the fleet coordinator fails", async () => {
    const fleet = new BrokenFleet();
    const { cache, source, logger } = setup({ fleet });
    const result = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(result.outcome, "miss");
    assert.equal(fleet.calls, 1);
    assert.equal(source.issueCalls.length, 1);
    assert.equal(logger.events("shared_cache_degraded")[0]?.operation, "single_flight");
  });

  it("hands a peer's partner failure to the caller instead of calling the partner again", async () => {
    const peerFailure = new BrokerError("upstream_unavailable", "peer's fetch failed", { retryAfterSec: 7 });
    const fleet: FleetCoordinator = { singleFlight: async () => Promise.reject(peerFailure) };
    const { cache, source } = setup({ fleet });
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 30 }), (e: unknown) => e === peerFailure);
    assert.equal(source.issueCalls.length, 0, "no partner call of its own");
  });

  it("does not retry locally when the partner fails inside the fleet single-flight", async () => {
    const fleet = new RecordingFleet();
    const { cache, source, logger } = setup({ fleet });
    source.willFail(unavailable());
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 30 }), { code: "upstream_unavailable" });
    assert.equal(source.issueCalls.length, 1);
    assert.equal(logger.events("shared_cache_degraded").length, 0);
  });
});

describe("TokenCache state and secrecy", () => {
  it("reports metadata only", async () => {
    const { cache, source, clock } = setup();
    assert.deepEqual(cache.state("flowe"), {
      provider: "flowe",
      cacheKey: undefined,
      issuedAt: undefined,
      expiresAt: undefined,
      refreshAt: undefined,
      fingerprint: undefined,
      lastRefreshAt: undefined,
      lastError: undefined,
      refreshing: false,
    });
    const { credential } = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.deepEqual(cache.state("flowe"), {
      provider: "flowe",
      cacheKey: "flowe:v1",
      issuedAt: clock.now(),
      expiresAt: clock.now() + 3600 * SEC,
      refreshAt: clock.now() + DUE_MS,
      fingerprint: credential.fingerprint,
      lastRefreshAt: clock.now(),
      lastError: undefined,
      refreshing: false,
    });
  });

  it("hands out frozen credentials", async () => {
    const { cache, source } = setup();
    const { credential } = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.ok(Object.isFrozen(credential));
    assert.ok(Object.isFrozen(credential.headers));
  });

  it("never puts a token value in a log line, an error or the state", async () => {
    const canary = `CANARY-${randomBytes(8).toString("hex")}`;
    const shared = new BrokenSharedStore();
    const { cache, source, clock, logger } = setup({ shared }, { tokenPrefix: canary, lifetimeSec: 300 });
    const errors: unknown[] = [];
    const first = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.ok(first.credential.accessToken?.startsWith(canary));
    await cache.get(source, POLICY, { minTtlSec: 600 }).catch((e: unknown) => errors.push(e));
    clock.advance(200 * SEC);
    source.willFail(new Error(`partner said ${canary}`));
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await flush();
    clock.advance(200 * SEC);
    source.willFail(new Error(`partner said ${canary}`));
    await cache.get(source, POLICY, { minTtlSec: 30 }).catch((e: unknown) => errors.push(e));
    await cache.get(source, POLICY, { minTtlSec: 0, force: true });
    await cache.invalidate("flowe", { broadcast: true });

    assert.equal(errors.length, 2);
    assert.ok(logger.lines.length > 0);
    const text = [
      ...logger.lines,
      ...errors.map((e) => `${String(e)} ${JSON.stringify(e)} ${(e as BrokerError).detail}`),
      JSON.stringify(cache.state("flowe")),
    ].join("\n");
    assert.equal(text.includes(canary), false);
  });
});

describe("TokenCache recheck window", () => {
  it("serves repeated hits within a second without preparing the source again", async () => {
    const { cache, source, clock } = setup();
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await cache.get(source, POLICY, { minTtlSec: 30 }); // verified hit: starts the window
    const prepared = source.prepareCalls;
    for (let i = 0; i < 50; i++) assert.equal((await cache.get(source, POLICY, { minTtlSec: 30 })).outcome, "hit");
    assert.equal(source.prepareCalls, prepared, "no prepare() inside the window");
    clock.advance(1_001);
    await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(source.prepareCalls, prepared + 1, "prepare() again once the window has passed");
  });

  it("notices a new secret version once the window has passed", async () => {
    const { cache, source, clock } = setup();
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await cache.get(source, POLICY, { minTtlSec: 30 });
    source.cacheKey = "flowe:v2";
    clock.advance(1_001);
    const result = await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(result.cacheKey, "flowe:v2");
    assert.equal(source.issueCalls.length, 2);
  });

  it("never answers from the window after an invalidation, past refreshAt, or below min_ttl", async () => {
    const { cache, source, clock } = setup({}, { lifetimeSec: 3600 });
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await cache.get(source, POLICY, { minTtlSec: 30 });
    await cache.invalidate("flowe");
    await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(source.issueCalls.length, 2, "invalidation took effect at once");

    await cache.get(source, POLICY, { minTtlSec: 30 });
    const before = source.prepareCalls;
    await assert.rejects(cache.get(source, POLICY, { minTtlSec: 3601 }), (e: unknown) => e instanceof BrokerError && e.code === "bad_request");
    assert.ok(source.prepareCalls > before, "a min_ttl the entry cannot meet goes the full way");

    // Refresh-ahead is due 2700 s after issue (75 %, jitter 0): a window opened just before must not hide it.
    const refreshAt = cache.state("flowe").refreshAt!;
    clock.advance(refreshAt - clock.now() - 500);
    await cache.get(source, POLICY, { minTtlSec: 30 });
    const issued = source.issueCalls.length;
    clock.advance(600);
    await cache.get(source, POLICY, { minTtlSec: 30 });
    assert.equal(source.issueCalls.length, issued + 1, "the background refresh started on time");
  });
});
