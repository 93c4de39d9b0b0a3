import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MAX_VERIFY_WAIT_MS, RotationSchema } from "../../../shared/config/rotation-schema.js";
import { basicHeader } from "../../../shared/rotation/key-api.js";
import { waitUntil } from "../../support/wait-until.js";
import { Crash, HOUR, JOURNAL, KEY_SECRET, MARKER, PROVIDER, World, phaseIs, startPartnerServer, type CrashRule, type WorldOptions } from "./rotation-harness.js";

let server: Awaited<ReturnType<typeof startPartnerServer>>;
before(async () => {
  server = await startPartnerServer();
});
after(async () => {
  await server.close();
});

/** A world whose key is due (stored by hand 721 h ago). */
function dueWorld(options: WorldOptions = {}): World {
  const world = new World(server.url, options);
  server.use(world.sandbox.handler);
  world.clock.advance(721 * HOUR);
  return world;
}

/** Rotation finished: new key stored and working, old one kept as previous, no orphan, no secret in the journal. */
async function assertRotated(world: World): Promise<void> {
  const current = world.current();
  assert.notEqual(current.id, world.initial.id);
  assert.equal(current.previous?.id, world.initial.id);
  assert.ok(await world.works(current), "the new key works");
  assert.ok(await world.works(world.initial), "the old key keeps working during the grace period");
  assert.deepEqual(
    world.brokerKeys().map((k) => k.key),
    [current.id],
    "the only broker key at the partner is the promoted one",
  );
  const journal = world.journal();
  assert.equal(journal?.phase, "done");
  assert.equal(journal?.newKeyId, current.id);
  assert.ok(!JSON.stringify(journal).includes(current.secret), "a closed journal holds no secret");
  assert.equal(journal?.failures, 0);
}

/** Retirement finished: the old key is gone at the partner and from the key secret. */
async function assertRetired(world: World): Promise<void> {
  const current = world.current();
  assert.equal(current.previous, undefined);
  assert.ok(!world.partnerKeys().some((k) => k.key === world.initial.id), "the old key was deleted at the partner");
  assert.ok(!(await world.works(world.initial)));
  assert.ok(await world.works(current));
  assert.equal(world.journal()?.phase, "retired");
}

function assertClean(world: World, outputs: unknown[] = []): void {
  assert.deepEqual(world.violations, []);
  assert.deepEqual(world.leaks(outputs), []);
}

describe("partner-api rotation (Silverflow sandbox)", () => {
  test("rotates a due key: marked key with copied permissions and CIDRs, verified, promoted, old key kept as previous", async () => {
    const world = dueWorld({ foreignKeys: 2 });
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "rotated");
    await assertRotated(world);
    const created = world.partnerKeys().find((k) => k.key === world.current().id)!;
    assert.ok(created.name.startsWith(MARKER));
    assert.deepEqual(created.permissions, ["apiKeys:All", "charges:List", "bearerTokens:Create"]);
    assert.deepEqual(created.ipRestrictions, ["127.0.0.1/32"]);
    assert.equal(world.store.latest(KEY_SECRET)?.tags.keyId, created.key);
    assert.deepEqual(world.promoted, [PROVIDER], "cached tokens of the old key were dropped");
    assertClean(world, [result]);
  });

  test("writes the journal before and right after every partner call that changes something", async () => {
    const world = dueWorld();
    await world.service().maintain(PROVIDER);
    assert.deepEqual(world.trace, [
      "partner:list",
      "journal:creating",
      "partner:create",
      "journal:created",
      "partner:verify",
      "journal:verified",
      `secret:${KEY_SECRET}`,
      "journal:done",
    ]);
  });

  const rotationCrashes: { point: string; rule: CrashRule }[] = [
    { point: "before the journal records 'creating'", rule: { store: "set", name: JOURNAL, when: phaseIs("creating"), at: "before" } },
    { point: "after the journal recorded 'creating', before the create", rule: { store: "set", name: JOURNAL, when: phaseIs("creating"), at: "after" } },
    { point: "after the partner created the key (its answer lost)", rule: { partner: "create", at: "after" } },
    { point: "before the journal records the new key", rule: { store: "set", name: JOURNAL, when: phaseIs("created"), at: "before" } },
    { point: "after the journal recorded the new key", rule: { store: "set", name: JOURNAL, when: phaseIs("created"), at: "after" } },
    { point: "during verification with the new key", rule: { partner: "verify", at: "before" } },
    { point: "before the journal records 'verified'", rule: { store: "set", name: JOURNAL, when: phaseIs("verified"), at: "before" } },
    { point: "after the journal recorded 'verified', before the promote", rule: { store: "set", name: JOURNAL, when: phaseIs("verified"), at: "after" } },
    { point: "during the promote write (not committed)", rule: { store: "set", name: KEY_SECRET, at: "before" } },
    { point: "between the promote writes (key secret written, journal still open)", rule: { store: "set", name: KEY_SECRET, at: "after" } },
    { point: "before the journal records 'done'", rule: { store: "set", name: JOURNAL, when: phaseIs("done"), at: "before" } },
    { point: "after the journal recorded 'done'", rule: { store: "set", name: JOURNAL, when: phaseIs("done"), at: "after" } },
  ];
  for (const { point, rule } of rotationCrashes) {
    test(`a crash ${point} converges on the next run with no lost access`, async () => {
      const world = dueWorld({ foreignKeys: 1 });
      const crash = new Crash(rule);
      const first = await world.service({ crash }).maintain(PROVIDER);
      assert.ok(crash.tripped, "the crash point was reached");
      assert.equal(first.outcome, "failed");
      await world.check("right after the crash");
      const second = await world.service().maintain(PROVIDER);
      assert.notEqual(second.outcome, "failed", JSON.stringify(second));
      await assertRotated(world);
      world.clock.advance(61 * 60_000);
      await world.service().maintain(PROVIDER);
      await assertRetired(world);
      assertClean(world, [first, second]);
    });
  }

  const retireCrashes: { point: string; rule: CrashRule }[] = [
    { point: "before the journal records 'retiring'", rule: { store: "set", name: JOURNAL, when: phaseIs("retiring"), at: "before" } },
    { point: "after the journal recorded 'retiring', before the delete", rule: { store: "set", name: JOURNAL, when: phaseIs("retiring"), at: "after" } },
    { point: "after the partner deleted the previous key", rule: { partner: "delete", at: "after" } },
    { point: "after the journal recorded 'retired'", rule: { store: "set", name: JOURNAL, when: phaseIs("retired"), at: "after" } },
    { point: "during the key secret rewrite without the previous key", rule: { store: "set", name: KEY_SECRET, at: "before" } },
  ];
  for (const { point, rule } of retireCrashes) {
    test(`a crash during retirement ${point} converges on the next run`, async () => {
      const world = dueWorld();
      await world.service().maintain(PROVIDER);
      await assertRotated(world);
      world.clock.advance(61 * 60_000);
      const crash = new Crash(rule);
      const first = await world.service({ crash }).maintain(PROVIDER);
      assert.ok(crash.tripped, "the crash point was reached");
      await world.check("right after the crash");
      await world.service().maintain(PROVIDER);
      await assertRetired(world);
      assertClean(world, [first]);
    });
  }

  test("a crash during an orphan sweep converges on the next run", async () => {
    const world = new World(server.url, { ownOrphans: 3, foreignKeys: 1 });
    server.use(world.sandbox.handler);
    const crash = new Crash({ partner: "delete", at: "after", nth: 2 });
    await world.service({ crash }).maintain(PROVIDER);
    assert.ok(crash.tripped);
    assert.equal(world.brokerKeys().length, 1);
    const second = await world.service().maintain(PROVIDER);
    assert.deepEqual(second.actions, ["swept:1"]);
    assert.deepEqual(world.brokerKeys(), []);
    assert.equal(world.current().id, world.initial.id, "nothing was due: no rotation");
    assertClean(world);
  });

  test("a crash while recovering from a crash also converges", async () => {
    const world = dueWorld();
    const first = new Crash({ partner: "create", at: "after" });
    await world.service({ crash: first }).maintain(PROVIDER);
    assert.ok(first.tripped);
    assert.equal(world.brokerKeys().length, 1, "the orphan of the first crash");
    const second = new Crash({ store: "set", name: JOURNAL, when: phaseIs("idle"), at: "before" });
    await world.service({ crash: second }).maintain(PROVIDER);
    assert.ok(second.tripped, "crashed after deleting the orphan, before closing the journal");
    assert.equal(world.journal()?.phase, "creating");
    await world.service().maintain(PROVIDER);
    await assertRotated(world);
    assertClean(world);
  });

  test("a broker key that was ever promoted is never swept, even after an operator rolled the key secret back", async () => {
    const world = dueWorld();
    await world.service().maintain(PROVIDER);
    const promoted = world.current().id;
    world.store.seed(KEY_SECRET, JSON.stringify({ id: world.initial.id, secret: world.initial.secret }));
    const result = await world.service().maintain(PROVIDER);
    assert.ok(!result.actions.some((a) => a.startsWith("swept")), JSON.stringify(result));
    assert.ok(world.partnerKeys().some((k) => k.key === promoted));
    assertClean(world, [result]);
  });

  test("a create that commits but never answers (commit-then-hang) leaves no orphan and is retried next run", async () => {
    const world = dueWorld();
    world.sandbox.faults.push({ op: "create", kind: "commit-then-hang" });
    const running = world.service().maintain(PROVIDER);
    // The attempt's timeout runs on the manual clock: move it once the create is under way.
    await waitUntil(() => world.sandbox.requests.create === 1 && world.clock.pendingDeadlines > 0, "the create is sent");
    world.clock.advance(60_000);
    const first = await running;
    assert.equal(first.outcome, "failed");
    assert.equal(first.error?.code, "upstream_unavailable");
    assert.equal(world.sandbox.requests.create, 1, "a create is never retried blindly");
    assert.deepEqual(world.brokerKeys(), [], "the key created without an answer was found by its marker and deleted");
    assert.equal(world.current().id, world.initial.id);
    assert.equal(world.journal()?.phase, "idle");
    assert.equal(world.journal()?.failures, 1);
    const second = await world.service().maintain(PROVIDER);
    assert.equal(second.outcome, "rotated");
    await assertRotated(world);
    assertClean(world, [first, second]);
  });

  test("rides out a Key Vault throttle right after the create: the new key is kept and promoted in the same run", async () => {
    const world = dueWorld();
    world.store.faults.push({ op: "set", name: JOURNAL, match: phaseIs("created"), kind: "throttle", times: 2 });
    world.store.faults.push({ op: "set", name: KEY_SECRET, kind: "error", times: 1 });
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "rotated");
    assert.ok(world.clock.sleeps.length >= 3, "backed off between write attempts");
    await assertRotated(world);
    assertClean(world, [result]);
  });

  test("when Key Vault keeps failing right after the create, the unrecorded key is deleted at the partner", async () => {
    const world = dueWorld();
    world.store.faults.push({ op: "set", name: JOURNAL, match: phaseIs("created"), kind: "error", times: 100 });
    const first = await world.service().maintain(PROVIDER);
    assert.equal(first.outcome, "failed");
    assert.equal(first.error?.code, "secret_unavailable");
    assert.deepEqual(world.brokerKeys(), [], "no key whose secret nobody holds is left behind");
    assert.equal(world.current().id, world.initial.id);
    assert.ok(await world.works(world.current()));
    world.store.faults.length = 0;
    await world.service().maintain(PROVIDER);
    await assertRotated(world);
    assertClean(world, [first]);
  });

  test("a Key Vault write that commits but reports failure right after the create still converges", async () => {
    const world = dueWorld();
    world.store.faults.push({ op: "set", name: JOURNAL, match: phaseIs("created"), kind: "commit-then-error", times: 100 });
    const first = await world.service().maintain(PROVIDER);
    assert.equal(first.outcome, "failed");
    await world.check("after the failed run");
    world.store.faults.length = 0;
    await world.service().maintain(PROVIDER);
    await assertRotated(world);
    assertClean(world, [first]);
  });

  test("rides out the partner's propagation delay by verifying again after a pause", async () => {
    const world = dueWorld({ propagationDelayMs: 1500 });
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "rotated");
    assert.equal(world.sandbox.requests.unauthorized, 2, "two verification attempts came too early");
    await assertRotated(world);
  });

  test("a new key that never works is deleted; after maxFailures automatic rotation stops with the old key in service", async () => {
    const world = dueWorld({ propagationDelayMs: 1500 });
    world.frozenSandboxTime = world.clock.now(); // new keys never finish propagating
    for (let run = 1; run <= 3; run++) {
      const result = await world.service().maintain(PROVIDER);
      assert.equal(result.outcome, "failed");
      assert.equal(result.error?.code, "upstream_rejected");
      assert.deepEqual(world.brokerKeys(), [], "the key that never worked was deleted");
      assert.equal(world.current().id, world.initial.id);
      assert.ok(await world.works(world.current()));
    }
    const status = await world.service().status(PROVIDER);
    assert.equal(status.failures, 3);
    assert.equal(status.needsAttention, true);
    const creates = world.sandbox.requests.create;
    const skipped = await world.service().maintain(PROVIDER);
    assert.equal(skipped.outcome, "skipped");
    assert.equal(skipped.reason, "needs_attention");
    assert.equal(world.sandbox.requests.create, creates, "no further automatic attempt");

    world.frozenSandboxTime = undefined;
    const manual = await world.service().rotate(PROVIDER, { manual: true });
    assert.equal(manual.outcome, "rotated");
    const after = await world.service().status(PROVIDER);
    assert.equal(after.needsAttention, false);
    assert.equal(after.failures, 0);
    await assertRotated(world);
    assertClean(world, [status, skipped, manual, after]);
  });

  test("at the 40-key limit, own orphans are swept to make room; foreign keys and other providers' keys are untouched", async () => {
    const world = dueWorld({ foreignKeys: 30, ownOrphans: 7, otherProviderOrphans: 2 }); // 1 + 30 + 7 + 2 = 40
    assert.equal(world.partnerKeys().length, 40);
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "rotated");
    assert.ok(result.actions.includes("swept:7"));
    await assertRotated(world);
    assert.equal(world.partnerKeys().length, 1 + 30 + 2 + 1);
    assertClean(world, [result]);
  });

  test("aborts with key_limit_reached when foreign keys alone fill the account, deleting nothing", async () => {
    const world = dueWorld({ foreignKeys: 39 });
    const before = world.partnerKeys().map((k) => k.key);
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "key_limit_reached");
    assert.equal(world.sandbox.requests.create, 0);
    assert.equal(world.sandbox.requests.delete, 0);
    assert.deepEqual(world.partnerKeys().map((k) => k.key), before);
    const status = await world.service().status(PROVIDER);
    assert.equal(status.lastError?.code, "key_limit_reached");
    assert.equal(status.keyId, world.initial.id);
    await assert.rejects(world.service().rotate(PROVIDER, { manual: true }), { code: "conflict" });
    assertClean(world, [result, status]);
  });

  test("re-running after a completed rotation is a no-op until the next rotation is due", async () => {
    const world = dueWorld();
    await world.service().maintain(PROVIDER);
    const writes = world.store.calls.filter((c) => c.op === "set").length;
    const { create, delete: deletes } = world.sandbox.requests;
    const again = await world.service().maintain(PROVIDER);
    assert.equal(again.outcome, "no_change");
    assert.equal(again.reason, "not_due");
    assert.deepEqual(again.actions, []);
    assert.equal(world.store.calls.filter((c) => c.op === "set").length, writes, "nothing written");
    assert.equal(world.sandbox.requests.create, create);
    assert.equal(world.sandbox.requests.delete, deletes);
    await assertRotated(world);
  });

  test("retires the previous key only once the grace period has passed", async () => {
    const world = dueWorld();
    await world.service().maintain(PROVIDER);
    const retireAt = world.current().previous!.retireAt;
    assert.equal(retireAt, world.clock.now() + 60 * 60_000);
    world.clock.advance(59 * 60_000);
    await world.service().maintain(PROVIDER);
    assert.ok(await world.works(world.initial), "still inside the grace period");
    assert.equal(world.current().previous?.id, world.initial.id);
    world.clock.advance(2 * 60_000);
    const result = await world.service().maintain(PROVIDER);
    assert.deepEqual(result.actions, [`retired:${world.initial.id}`]);
    await assertRetired(world);
    assertClean(world, [result]);
  });

  test("never puts a secret in a log line, a result, an error or the status", async () => {
    const world = dueWorld({ ownOrphans: 1 });
    world.sandbox.faults.push({ op: "create", kind: "commit-then-error" });
    const outputs: unknown[] = [];
    outputs.push(await world.service().maintain(PROVIDER));
    outputs.push(await world.service().maintain(PROVIDER));
    outputs.push(await world.service().status(PROVIDER));
    world.store.faults.push({ op: "get", name: KEY_SECRET, kind: "error" });
    outputs.push(await world.service().rotate(PROVIDER, { manual: true }).catch((error: unknown) => error));
    outputs.push(await world.service().rotate(PROVIDER, { manual: true, dryRun: true }));
    world.clock.advance(2 * HOUR);
    outputs.push(await world.service().maintain(PROVIDER));
    outputs.push(await world.service().status(PROVIDER));
    assert.ok(world.secrets.length >= 3, "secrets were handed out");
    assert.ok(world.logger.records.length > 10);
    assertClean(world, outputs);
  });
  test("a rejected re-verification never deletes a key that a key secret version holds (promote committed, key secret rolled back)", async () => {
    const world = dueWorld();
    const crash = new Crash({ store: "set", name: KEY_SECRET, at: "after" });
    await world.service({ crash }).maintain(PROVIDER);
    assert.ok(crash.tripped);
    const promoted = world.current().id;
    assert.equal(world.journal()?.phase, "verified", "the promote committed, the journal did not catch up");
    // An operator rolls the key secret back; then the promoted key stops passing verification.
    world.store.seed(KEY_SECRET, JSON.stringify({ id: world.initial.id, secret: world.initial.secret }));
    const patched = await fetch(`${server.url}/silverflow/api-keys/${promoted}`, {
      method: "PATCH",
      headers: { authorization: basicHeader(world.initial), "content-type": "application/json" },
      body: JSON.stringify({ permissions: ["apiKeys:All"] }),
    });
    assert.equal(patched.status, 200);
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "failed");
    assert.equal(result.error?.code, "upstream_rejected");
    assert.match(result.error?.detail ?? "", /kept/);
    assert.ok(world.partnerKeys().some((k) => k.key === promoted), "the key a key secret version holds is still at the partner");
    assert.equal(world.sandbox.requests.delete, 0);
    assert.equal(world.journal()?.phase, "idle");
    assertClean(world, [result]);
  });

  test("reads the key secret's tags afresh before deleting a rejected new key (a version written during the run protects it)", async () => {
    const world = dueWorld({ propagationDelayMs: 1500 });
    world.frozenSandboxTime = world.clock.now(); // the new key never starts working
    let stored: string | undefined;
    world.beforePartnerCall = (op) => {
      if (op !== "verify" || stored !== undefined) return;
      // Meanwhile an operator stores the new key in the key secret (tagged as the broker would).
      const created = world.brokerKeys()[0]!;
      stored = created.key;
      world.store.seed(KEY_SECRET, JSON.stringify({ id: created.key, secret: created.secret }), { keyId: created.key });
    };
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "failed");
    assert.ok(stored !== undefined);
    assert.ok(world.partnerKeys().some((k) => k.key === stored), "the key now held by the key secret was not deleted");
    assert.equal(world.sandbox.requests.delete, 0);
    assert.deepEqual(world.leaks([result]), []);
  });

  test("lists every page of the partner's key list: own orphans beyond the first page are swept", async () => {
    const world = dueWorld({ foreignKeys: 12, ownOrphans: 3 }); // orphans at positions 14-16: page 2 of 10
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "rotated");
    assert.ok(result.actions.includes("swept:3"), JSON.stringify(result.actions));
    assert.ok(world.sandbox.requests.list >= 2, "the list was read page by page");
    await assertRotated(world);
    assertClean(world, [result]);
  });

  test("with its own keyNamePrefix it names keys with it and sweeps only its own; other deployments' and default-prefix keys stay", async () => {
    const world = dueWorld({ rotation: { keyNamePrefix: "staging" }, ownOrphans: 2, otherDeploymentKeys: 2 });
    // Keys of a deployment on the default prefix, including ones named before prefixes existed.
    for (let i = 0; i < 2; i++) world.foreignIds.push(world.sandbox.createKey({ name: `${MARKER}prod-${i}`, permissions: ["charges:List"] }).key);
    const result = await world.service().maintain(PROVIDER);
    assert.equal(result.outcome, "rotated");
    assert.ok(result.actions.includes("swept:2"), JSON.stringify(result.actions));
    await assertRotated(world);
    const created = world.partnerKeys().find((k) => k.key === world.current().id)!;
    assert.ok(created.name.startsWith("staging:silverflow:"), created.name);
    assert.deepEqual(
      world.foreignIds.filter((id) => !world.partnerKeys().some((k) => k.key === id)),
      [],
      "no key of another deployment was deleted",
    );
    const plan = await world.service().rotate(PROVIDER, { manual: true, dryRun: true });
    assert.equal(plan.plan?.foreignKeys, 4, "the other deployments' keys are foreign; the initial key, now previous, is not");
    assertClean(world, [result, plan]);
  });

  test("the dry-run plan does not count the current key (made by a person, unmarked) as foreign", async () => {
    const world = dueWorld({ foreignKeys: 2 });
    const plan = await world.service().rotate(PROVIDER, { manual: true, dryRun: true });
    assert.equal(plan.plan?.keysAtPartner, 3);
    assert.equal(plan.plan?.foreignKeys, 2);
  });

  test("a keyNamePrefix is required to be colon-free, and defaults to token-broker (the pre-prefix key names)", () => {
    const base = { mode: "partner-api", keyApi: { preset: "silverflow", baseUrl: "https://partner.test" } };
    assert.equal(RotationSchema.parse(base).keyNamePrefix, "token-broker");
    assert.equal(RotationSchema.safeParse({ ...base, keyNamePrefix: "prod:eu" }).success, false);
    assert.equal(RotationSchema.safeParse({ ...base, keyNamePrefix: "" }).success, false);
    assert.equal(RotationSchema.safeParse({ ...base, keyNamePrefix: "prod-eu_2.a" }).success, true);
  });

  test("refuses a verify budget (attempts x delayMs) that could outlast the rotation lock", () => {
    const base = { mode: "partner-api", keyApi: { preset: "silverflow", baseUrl: "https://partner.test" } };
    assert.equal(MAX_VERIFY_WAIT_MS, 5 * 60_000);
    assert.equal(RotationSchema.safeParse({ ...base, verify: { attempts: 5, delayMs: 60_000 } }).success, true);
    assert.equal(RotationSchema.safeParse({ ...base, verify: { attempts: 6, delayMs: 60_000 } }).success, false);
    assert.equal(RotationSchema.safeParse({ ...base, verify: { attempts: 50, delayMs: 120_000 } }).success, false);
  });

  test("a run whose lease ran out fails with the conflict lease_lost and records nothing in the journal", async () => {
    const world = dueWorld({ propagationDelayMs: 2500 });
    const result = await world.service({ lockTtlMs: 1500 }).maintain(PROVIDER);
    assert.equal(result.outcome, "failed");
    assert.equal(result.error?.code, "conflict");
    assert.equal(result.error?.reason, "lease_lost");
    assert.equal(world.journal()?.lastError, undefined, "the journal belongs to the next holder");
    assert.deepEqual(
      world.logger.events("rotation_failed").map((f) => f.code),
      ["conflict"],
    );
  });

  test("stops verifying once its lease has run out; the next run resumes the journal and promotes", async () => {
    const world = dueWorld({ propagationDelayMs: 2500 });
    const first = await world.service({ lockTtlMs: 1500 }).maintain(PROVIDER);
    assert.equal(first.outcome, "failed");
    assert.equal(first.error?.code, "conflict");
    assert.equal(world.sandbox.requests.charges, 2, "no verification after the lease expired (at the third attempt)");
    assert.equal(world.journal()?.phase, "created", "the new key is left in the journal for the next holder");
    const second = await world.service().maintain(PROVIDER);
    assert.equal(second.outcome, "rotated");
    await assertRotated(world);
    assertClean(world, [first, second]);
  });
});
