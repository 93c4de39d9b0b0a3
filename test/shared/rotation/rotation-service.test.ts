import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../../../shared/config/load.js";
import { ApiKeyProviderSchema } from "../../../shared/config/api-key-schema.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { RotationService } from "../../../shared/rotation/rotation-service.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { inMemoryTelemetry } from "../../support/in-memory-telemetry.js";
import { ManualClock } from "../../support/manual-clock.js";
import { HOUR, JOURNAL, PROVIDER, World, startPartnerServer } from "./rotation-harness.js";

let server: Awaited<ReturnType<typeof startPartnerServer>>;
before(async () => {
  server = await startPartnerServer();
});
after(async () => {
  await server.close();
});

function dueWorld(): World {
  const world = new World(server.url, { ownOrphans: 1 });
  server.use(world.sandbox.handler);
  world.clock.advance(721 * HOUR);
  return world;
}

describe("RotationService", () => {
  test("timer and operator rotating at the same moment: exactly one rotation, the other gets conflict", async () => {
    const world = dueWorld();
    const lock = new InProcessLock(world.clock);
    const timer = world.service({ lock });
    const operator = world.service({ lock });
    const [byTimer, byOperator] = await Promise.allSettled([timer.maintain(PROVIDER), operator.rotate(PROVIDER, { manual: true })]);
    assert.equal(byTimer.status, "fulfilled");
    assert.equal(byTimer.value.outcome, "rotated");
    assert.equal(byOperator.status, "rejected");
    assert.equal((byOperator.reason as { code: string }).code, "conflict");
    assert.equal(world.sandbox.requests.create, 1, "exactly one key was created");

    // The other way round: the operator holds the lock, the timer backs off with "locked".
    world.clock.advance(721 * HOUR);
    const lease = await lock.tryAcquire(`rotation:${PROVIDER}`, 60_000);
    assert.ok(lease);
    const blocked = await timer.maintain(PROVIDER);
    assert.equal(blocked.outcome, "locked");
    await lease.release();
    assert.equal(world.sandbox.requests.create, 1);
  });

  test("a dry run returns the plan and has no side effects", async () => {
    const world = dueWorld();
    const keysBefore = JSON.stringify(world.partnerKeys());
    const writesBefore = world.store.calls.filter((c) => c.op === "set").length;
    const result = await world.service().rotate(PROVIDER, { manual: false, dryRun: true });
    assert.equal(result.outcome, "dry_run");
    assert.equal(result.plan?.due, true);
    assert.equal(result.plan?.currentKeyId, world.initial.id);
    assert.equal(result.plan?.ownOrphans?.length, 1);
    assert.equal(result.plan?.blockedBy, undefined);
    assert.ok(result.plan?.steps.includes("create a new key"));
    assert.equal(JSON.stringify(world.partnerKeys()), keysBefore, "nothing created or deleted at the partner");
    assert.equal(world.store.calls.filter((c) => c.op === "set").length, writesBefore, "nothing written");
    assert.equal(world.store.latest(JOURNAL), undefined, "no journal created");
    assert.deepEqual(world.promoted, []);
    assert.deepEqual(world.leaks([result]), []);
  });

  test("a dry run of a key that is not due plans nothing unless manual", async () => {
    const world = new World(server.url);
    server.use(world.sandbox.handler);
    const plan = await world.service().rotate(PROVIDER, { manual: false, dryRun: true });
    assert.equal(plan.plan?.due, false);
    assert.deepEqual(plan.plan?.steps, []);
    const manual = await world.service().rotate(PROVIDER, { manual: true, dryRun: true });
    assert.ok(manual.plan?.steps.includes("create a new key"));
  });

  test("a manual rotation runs although not due; a second one while the previous key awaits retirement is refused", async () => {
    const world = new World(server.url);
    server.use(world.sandbox.handler);
    const service = world.service();
    const notDue = await service.maintain(PROVIDER);
    assert.equal(notDue.outcome, "no_change");
    const first = await service.rotate(PROVIDER, { manual: true });
    assert.equal(first.outcome, "rotated");
    await assert.rejects(service.rotate(PROVIDER, { manual: true }), (error: { code: string; detail: string }) => {
      assert.equal(error.code, "conflict");
      assert.match(error.detail, /grace period/);
      return true;
    });
    world.clock.advance(61 * 60_000);
    const second = await service.rotate(PROVIDER, { manual: true });
    assert.equal(second.outcome, "rotated");
    assert.ok(second.actions.some((a) => a.startsWith("retired:")), "the old previous key was retired first");
    assert.deepEqual(world.violations, []);
  });

  test("each refused rotation is a conflict with its reason: rotation_running, previous_pending, key_limit_reached", async () => {
    const world = dueWorld();
    const lock = new InProcessLock(world.clock);
    const service = world.service({ lock });
    const lease = await lock.tryAcquire(`rotation:${PROVIDER}`, 60_000);
    await assert.rejects(service.rotate(PROVIDER, { manual: true }), { code: "conflict", reason: "rotation_running", detail: `A rotation of "${PROVIDER}" is already running.` });
    await lease?.release();
    assert.equal((await service.rotate(PROVIDER, { manual: true })).outcome, "rotated");
    await assert.rejects(service.rotate(PROVIDER, { manual: true }), (error: { code: string; reason: string; detail: string }) => {
      assert.equal(error.code, "conflict");
      assert.equal(error.reason, "previous_pending");
      assert.match(error.detail, /grace period/);
      return true;
    });

    const full = new World(server.url, { foreignKeys: 39 });
    server.use(full.sandbox.handler);
    full.clock.advance(721 * HOUR);
    const result = await full.service().maintain(PROVIDER);
    assert.equal(result.outcome, "key_limit_reached");
    assert.deepEqual(result.error, {
      code: "conflict",
      detail: `The partner's API key limit for "${PROVIDER}" is reached; delete unused keys at the partner.`,
      reason: "key_limit_reached",
    });
    await assert.rejects(full.service().rotate(PROVIDER, { manual: true }), { code: "conflict", reason: "key_limit_reached", detail: result.error?.detail });
  });

  test("status reports metadata only: ids, fingerprint, ages, phase, next due time", async () => {
    const world = dueWorld();
    const service = world.service();
    await service.maintain(PROVIDER);
    const status = await service.status(PROVIDER);
    const current = world.current();
    assert.equal(status.mode, "partner-api");
    assert.equal(status.keyId, current.id);
    assert.match(status.keyFingerprint, /^sha256:[0-9a-f]{12}$/);
    assert.equal(status.previousKeyId, world.initial.id);
    assert.equal(status.retireAt, new Date(world.clock.now() + 60 * 60_000).toISOString());
    assert.equal(status.phase, "done");
    assert.equal(status.keyAgeSec, 0);
    assert.equal(status.nextDueAt, new Date(world.clock.now() + 720 * HOUR).toISOString());
    assert.equal(status.failures, 0);
    assert.equal(status.needsAttention, false);
    assert.deepEqual(world.leaks([status]), []);
  });

  test("unknown providers are provider_not_found, providers without rotation bad_request", async () => {
    const clock = new ManualClock();
    const service = new RotationService({
      config: { providers: { plain: ApiKeyProviderSchema.parse({ kind: "api-key", key: { secret: "k" }, scheme: "header" }) } },
      secrets: new MemorySecretStore(clock),
      fetch: async () => new Response(null, { status: 500 }),
      clock,
      sleeper: clock,
      random: () => 0.5,
      logger: new MemoryLogger(),
      lock: new InProcessLock(clock),
      onPromoted: async () => {},
    });
    await assert.rejects(service.rotate("nope", { manual: true }), { code: "provider_not_found" });
    await assert.rejects(service.rotate("constructor", { manual: true }), { code: "provider_not_found" });
    await assert.rejects(service.rotate("plain", { manual: true }), { code: "bad_request" });
    await assert.rejects(service.status("plain"), { code: "bad_request" });
    assert.equal(service.isRotating("plain"), false);
  });

  test("a journal that does not parse stops the run without being overwritten", async () => {
    const world = dueWorld();
    world.store.seed(JOURNAL, `{"phase":"created","newKey":{"id":"x","secret":"${world.initial.secret}"`);
    const versions = world.store.versions(JOURNAL).length;
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "failed");
    assert.equal(result.error?.code, "secret_unavailable");
    assert.equal(world.store.versions(JOURNAL).length, versions);
    assert.equal(world.sandbox.requests.create, 0);
    assert.deepEqual(world.leaks([result]), []);
    assert.equal(world.current().id, world.initial.id);
  });

  test("configuration: partner-api rotation needs keyApi and scheme basic; defaults are applied", () => {
    const base = { issuers: {}, callers: {} };
    assert.throws(
      () =>
        parseConfig(
          JSON.stringify({ ...base, providers: { p: { kind: "api-key", key: { secret: "k" }, scheme: "header", rotation: { mode: "partner-api" } } } }),
        ),
      (error: { problems: string[] }) => {
        assert.ok(error.problems.some((p) => p.startsWith("providers.p.rotation.keyApi")));
        assert.ok(error.problems.some((p) => p.startsWith("providers.p.rotation.mode")));
        return true;
      },
    );
    const config = parseConfig(
      JSON.stringify({
        ...base,
        providers: {
          p: { kind: "api-key", key: { secret: "k" }, scheme: "basic", rotation: { mode: "partner-api", keyApi: { preset: "silverflow", baseUrl: "https://x.test/v1" } } },
          o: { kind: "api-key", key: { secret: "o" }, scheme: "header", rotation: { mode: "operator", maxAgeDays: 90 } },
        },
      }),
    );
    const p = config.providers.p;
    assert.ok(p?.kind === "api-key" && p.rotation);
    assert.equal(p.rotation.intervalHours, 720);
    assert.equal(p.rotation.graceMinutes, 120);
    assert.equal(p.rotation.maxFailures, 3);
    assert.deepEqual(p.rotation.verify, { attempts: 5, delayMs: 2000 });
    assert.throws(() =>
      parseConfig(JSON.stringify({ ...base, providers: { o: { kind: "api-key", key: { secret: "o" }, scheme: "header", rotation: { mode: "operator", keyApi: { preset: "silverflow", baseUrl: "https://x.test" } } } } })),
    );
  });
});

describe("RotationService telemetry", () => {
  test("one span per run and per step with the journal phase; runs counted; gauges from the last status", async () => {
    const world = dueWorld();
    const t = inMemoryTelemetry();
    const service = world.service({ telemetry: t.telemetry });
    assert.equal((await service.maintain(PROVIDER)).outcome, "rotated");

    const run = t.spans().find((s) => s.name === "token_broker.rotation.run");
    assert.equal(run?.attributes.outcome, "rotated");
    const steps = t.spans().filter((s) => s.name === "token_broker.rotation.step");
    const byStep = new Map(steps.map((s) => [s.attributes.step, s]));
    for (const step of ["list", "retire", "sweep", "rotate", "create", "verify", "promote", "finish"]) assert.ok(byStep.has(step), step);
    assert.equal(byStep.get("create")?.attributes.phase, "creating");
    assert.equal(byStep.get("finish")?.attributes.phase, "done");
    assert.equal(byStep.get("create")?.parentSpanContext?.spanId, byStep.get("rotate")?.spanContext().spanId);
    assert.ok(steps.every((s) => s.attributes.provider === PROVIDER));
    assert.ok(!JSON.stringify(steps.map((s) => s.attributes)).includes("CANARY"));

    assert.deepEqual(
      (await t.points("token_broker.rotation.runs")).map((p) => [p.attributes.outcome, p.value]),
      [["rotated", 1]],
    );
    assert.deepEqual(await t.points("token_broker.rotation.key_age"), [{ attributes: { provider: PROVIDER }, value: 0 }]);
    assert.deepEqual(await t.points("token_broker.rotation.needs_attention"), [{ attributes: { provider: PROVIDER }, value: 0 }]);
    assert.deepEqual(await t.points("token_broker.rotation.phase"), [{ attributes: { provider: PROVIDER, phase: "done" }, value: 1 }]);
    world.clock.advance(2 * HOUR);
    assert.deepEqual(await t.points("token_broker.rotation.key_age"), [{ attributes: { provider: PROVIDER }, value: 7200 }]);
    assert.deepEqual(await t.points("token_broker.rotation.overdue"), [{ attributes: { provider: PROVIDER }, value: 0 }]);
  });

  test("an operator run that ends skipped is counted with its outcome; a refused lock is no run", async () => {
    const world = dueWorld();
    const t = inMemoryTelemetry();
    const lock = new InProcessLock(world.clock);
    const service = world.service({ telemetry: t.telemetry, lock });
    await service.rotate(PROVIDER, { manual: true });
    // The previous key is still in its grace period: the run ends "skipped" (a 409 to the operator).
    await assert.rejects(service.rotate(PROVIDER, { manual: true }), (e: { code?: string }) => e.code === "conflict");
    const lease = await lock.tryAcquire(`rotation:${PROVIDER}`, 60_000);
    await assert.rejects(service.rotate(PROVIDER, { manual: true }), (e: { code?: string }) => e.code === "conflict");
    await lease?.release();
    assert.deepEqual(
      (await t.points("token_broker.rotation.runs")).map((p) => [p.attributes.outcome, p.value]),
      [
        ["rotated", 1],
        ["skipped", 1],
      ],
    );
    const runs = t.spans().filter((s) => s.name === "token_broker.rotation.run");
    assert.deepEqual(
      runs.map((s) => s.attributes["error.type"]),
      [undefined, "conflict", "conflict"],
    );
  });
});
