import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import { CachePolicySchema } from "../../../shared/config/provider-base-schema.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { ApiKeySource } from "../../../shared/providers/api-key-source.js";
import { CachingSecretStore } from "../../../shared/secrets/caching-store.js";
import { TokenCache } from "../../../shared/tokens/token-cache.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

const TTL_SEC = 60;

/**
 * The README's promise, checked on a manual clock with a request every 100 ms: a new version of a
 * key secret is served from the first request that comes more than secrets.cacheTtlSec + 1 s after
 * it was written (plus one store read), wherever in the cache cycle the write falls.
 */
for (const writtenAfterMs of [0, 1, 999, 30_000, 59_950]) {
  test(`a new secret version written ${writtenAfterMs} ms into the cache cycle is served from the first request more than cacheTtlSec + 1 s later`, async () => {
    const clock = new ManualClock();
    const logger = new MemoryLogger();
    const inner = new MemorySecretStore(clock);
    const secrets = new CachingSecretStore(inner, { clock, logger, ttlMs: TTL_SEC * 1000, maxStaleMs: 3_600_000 });
    const config = ApiKeyProviderSchema.parse({ kind: "api-key", scheme: "header", key: { secret: "partner-key" } });
    const source = new ApiKeySource({ name: "partner", config, secrets, clock });
    const cache = new TokenCache({ clock, random: () => 0.5, logger });
    const policy = CachePolicySchema.parse({});
    const served = async () => {
      const value = (await cache.get(source, policy, { minTtlSec: 0 })).credential.headers.Authorization;
      await new Promise((resolve) => setImmediate(resolve)); // let background re-reads land
      return value;
    };

    inner.seed("partner-key", "old-key");
    assert.equal(await served(), "old-key");
    for (let t = 0; t < writtenAfterMs; t += 100) {
      clock.advance(Math.min(100, writtenAfterMs - t));
      await served();
    }
    inner.seed("partner-key", "new-key");
    const writtenAt = clock.now();
    let firstNewAt: number | undefined;
    while (firstNewAt === undefined && clock.now() - writtenAt < 3 * TTL_SEC * 1000) {
      clock.advance(100);
      if ((await served()) === "new-key") firstNewAt = clock.now();
    }
    assert.ok(firstNewAt !== undefined, "never served");
    // Requests come every 100 ms: the first one past cacheTtlSec + 1 s is at most 100 ms later.
    assert.ok(firstNewAt - writtenAt <= TTL_SEC * 1000 + 1000 + 100, `served ${firstNewAt - writtenAt} ms after the write`);
  });
}
