import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RedisCommands } from "../../../shared/cache/redis-commands.js";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { ThrottledLog } from "../../../shared/log/throttled-log.js";
import { ManualClock } from "../../support/manual-clock.js";

/** Sleeping on the manual clock returns at once: a command that never answers times out at once. */
function setup(commandTimeoutMs = 250) {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const commands = new RedisCommands({ clock, sleeper: clock, commandTimeoutMs, log: new ThrottledLog(logger, clock, 10_000) });
  return { clock, logger, commands };
}

const degradedLines = (logger: MemoryLogger) => logger.events("redis_degraded").map((f) => [f.operation, f.count, f.error]);

describe("RedisCommands", () => {
  it("answers a command that settles within the timeout", async () => {
    const { commands } = setup();
    assert.deepEqual(await commands.run("test_get", true, async () => "v"), { ok: true, value: "v" });
    assert.equal(commands.degradedCounts().degradedOperations, 0);
  });

  it("fails at once without sending the command while no connection is ready, and counts it", async () => {
    const { clock, logger, commands } = setup();
    let sent = false;
    const result = await commands.run("test_get", false, async () => {
      sent = true;
      return "v";
    });
    assert.deepEqual(result, { ok: false });
    assert.equal(sent, false);
    assert.deepEqual(clock.sleeps, [], "no timeout was started");
    assert.deepEqual(commands.degradedCounts(), { degradedOperations: 1, degradedByOperation: { test_get: 1 }, lastDegradedAt: clock.now() });
    assert.deepEqual(degradedLines(logger), [["test_get", 1, "RedisUnavailableError:redis_unavailable"]]);
  });

  it("gives up on a command that has not answered after the per-command timeout and one more timer turn", async () => {
    const { clock, logger, commands } = setup(150);
    const result = await commands.run("test_get", true, () => new Promise<string>(() => undefined));
    assert.deepEqual(result, { ok: false });
    assert.deepEqual(clock.sleeps, [150, 0]);
    assert.deepEqual(degradedLines(logger), [["test_get", 1, "RedisCommandTimeoutError:redis_command_timeout"]]);
    await assert.rejects(commands.withTimeout(() => new Promise<void>(() => undefined)), { name: "RedisCommandTimeoutError" });
  });

  it("never throws a failed command at the caller, and logs it once per operation and interval without its message", async () => {
    const { clock, logger, commands } = setup();
    const failing = async (): Promise<string> => {
      throw new Error("CANARY message");
    };
    for (let i = 0; i < 3; i++) assert.deepEqual(await commands.run("test_set", true, failing), { ok: false });
    await commands.run("test_del", true, failing);
    clock.advance(10_000);
    await commands.run("test_set", true, failing);
    commands.degraded("subscribe", new Error("CANARY message"));

    assert.deepEqual(degradedLines(logger), [
      ["test_set", 1, "Error"],
      ["test_del", 1, "Error"],
      ["test_set", 4, "Error"],
      ["subscribe", 1, "Error"],
    ]);
    assert.deepEqual(commands.degradedCounts().degradedByOperation, { test_set: 4, test_del: 1, subscribe: 1 });
    assert.ok(logger.lines.every((line) => !line.includes("CANARY")));
  });
});
