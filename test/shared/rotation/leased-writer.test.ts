import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { InProcessLock } from "../../../shared/rotation/in-process-lock.js";
import { LeaseLostError, LeasedWriter, NORMAL_WRITE } from "../../../shared/rotation/leased-writer.js";
import { MemorySecretStore } from "../../fakes/memory-secret-store.js";
import { ManualClock } from "../../support/manual-clock.js";

describe("LeasedWriter", () => {
  test("retries a throttled write with growing back-off and then succeeds", async () => {
    const clock = new ManualClock();
    const store = new MemorySecretStore(clock);
    const lease = (await new InProcessLock(clock).tryAcquire("l", 60_000))!;
    const writer = new LeasedWriter({ secrets: store, sleeper: clock, random: () => 1, logger: new MemoryLogger() }, lease, "p");
    store.faults.push({ op: "set", kind: "throttle", times: 2 });
    await writer.write("s", "v", {}, NORMAL_WRITE);
    assert.equal(store.latest("s")?.value, "v");
    assert.deepEqual(clock.sleeps, [250, 500]);
  });

  test("gives up after the configured attempts and surfaces the store error", async () => {
    const clock = new ManualClock();
    const store = new MemorySecretStore(clock);
    const lease = (await new InProcessLock(clock).tryAcquire("l", 60_000))!;
    const writer = new LeasedWriter({ secrets: store, sleeper: clock, random: () => 0, logger: new MemoryLogger() }, lease, "p");
    store.faults.push({ op: "set", kind: "error", times: 10 });
    await assert.rejects(writer.write("s", "v", {}, NORMAL_WRITE), { code: "secret_unavailable" });
    assert.equal(store.calls.filter((c) => c.op === "set").length, NORMAL_WRITE.attempts);
  });

  test("a holder whose lease expired writes nothing", async () => {
    const { store, writer } = await takenOver();
    await assert.rejects(writer.write("s", "v", {}, NORMAL_WRITE), LeaseLostError);
    assert.equal(store.latest("s"), undefined);
  });

  test("a lost lease is the conflict with reason lease_lost, and is not retried", async () => {
    const { clock, store, writer } = await takenOver();
    await assert.rejects(writer.ensureHeld(), { code: "conflict", reason: "lease_lost" });
    await assert.rejects(writer.write("s", "v", {}, NORMAL_WRITE), { code: "conflict", reason: "lease_lost" });
    assert.deepEqual(clock.sleeps, []);
    assert.equal(store.calls.filter((c) => c.op === "set").length, 0);
  });
});

/** A writer whose lease expired and was granted to another holder. */
async function takenOver() {
  const clock = new ManualClock();
  const store = new MemorySecretStore(clock);
  const lock = new InProcessLock(clock);
  const lease = (await lock.tryAcquire("l", 1000))!;
  const writer = new LeasedWriter({ secrets: store, sleeper: clock, random: () => 0, logger: new MemoryLogger() }, lease, "p");
  clock.advance(1000);
  await lock.tryAcquire("l", 1000);
  return { clock, store, writer };
}
