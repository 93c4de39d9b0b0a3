import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import type { ProviderConfig } from "../../../shared/config/schema.js";
import { BrokerError } from "../../../shared/errors/broker-error.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { runMaintenance } from "../../../shared/broker/maintenance.js";
import { RotationService } from "../../../shared/rotation/rotation-service.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

function provider(secret: string, extra: Record<string, unknown>): ProviderConfig {
  return ApiKeyProviderSchema.parse({ kind: "api-key", key: { secret }, scheme: "header", ...extra });
}

describe("runMaintenance", () => {
  test("pre-warms marked providers, then maintains rotating ones; one provider's failure never stops the others", async () => {
    const clock = new ManualClock();
    const store = new MemorySecretStore(clock);
    const logger = new MemoryLogger();
    store.seed("a-key", "CANARY-a");
    // "broken" has no key secret at all: its maintenance fails.
    const rotation = new RotationService({
      config: {
        providers: {
          warm: provider("w-key", { prewarm: true }),
          "warm-failing": provider("wf-key", { prewarm: true }),
          a: provider("a-key", { rotation: { mode: "operator" } }),
          broken: provider("b-key", { prewarm: true, rotation: { mode: "operator" } }),
          idle: provider("i-key", {}),
        },
      },
      secrets: store,
      fetch: async () => new Response(null, { status: 500 }),
      clock,
      sleeper: clock,
      random: () => 0.5,
      logger,
      lock: new InProcessLock(clock),
      onPromoted: async () => {},
    });
    const prewarmed: string[] = [];
    const summaries = await runMaintenance({
      providers: ["warm", "warm-failing", "a", "broken", "idle"],
      prewarm: async (p) => {
        prewarmed.push(p);
        if (p === "warm-failing") throw new BrokerError("upstream_unavailable", "Partner down.");
      },
      rotation,
      logger,
    });
    assert.deepEqual(prewarmed.sort(), ["broken", "warm", "warm-failing"]);
    const byName = Object.fromEntries(summaries.map((s) => [s.provider, s]));
    assert.equal(byName.warm?.prewarm, "ok");
    assert.equal(byName["warm-failing"]?.prewarm, "failed");
    assert.equal(byName["warm-failing"]?.prewarmError?.code, "upstream_unavailable");
    assert.equal(byName.a?.rotation?.outcome, "accepted");
    assert.equal(byName.broken?.rotation?.outcome, "failed");
    assert.equal(byName.broken?.rotation?.error?.code, "secret_unavailable");
    assert.equal(byName.idle?.rotation, undefined);
    assert.equal(byName.idle?.prewarm, "skipped");
    const lines = logger.events("maintenance_summary");
    assert.deepEqual(lines.map((l) => l.provider).sort(), ["a", "broken", "idle", "warm", "warm-failing"]);
    assert.ok(!logger.lines.some((l) => l.includes("CANARY-a")));
  });
});
