import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchedSink } from "../../../shared/log/batched-sink.js";

function harness(maxChars = 10) {
  const writes: string[] = [];
  const timers: { callback: () => void; delayMs: number }[] = [];
  const batched = new BatchedSink((chunk) => writes.push(chunk), (callback, delayMs) => timers.push({ callback, delayMs }), { maxChars, maxDelayMs: 100 });
  return { writes, timers, batched };
}

test("lines wait for the timer, then go out together and in order", () => {
  const { writes, timers, batched } = harness();
  batched.sink("a\n");
  batched.sink("b\n");
  assert.deepEqual(writes, []);
  assert.deepEqual(
    timers.map((t) => t.delayMs),
    [100],
    "one timer for the batch",
  );
  timers.shift()!.callback();
  assert.deepEqual(writes, ["a\nb\n"]);
});

test("a batch that reaches maxChars is written at once, and later lines ride on the timer already set", () => {
  const { writes, timers, batched } = harness(6);
  batched.sink("aa\n");
  batched.sink("bb\n"); // 6 characters pending: written now
  assert.deepEqual(writes, ["aa\nbb\n"]);
  batched.sink("cc\n");
  assert.equal(timers.length, 1, "no second timer while one is pending");
  timers.shift()!.callback();
  assert.deepEqual(writes, ["aa\nbb\n", "cc\n"]);
  batched.sink("dd\n");
  assert.equal(timers.length, 1, "the next line sets a new timer");
});

test("flush writes what is pending, and a timer that finds nothing writes nothing", () => {
  const { writes, timers, batched } = harness();
  batched.sink("x\n");
  batched.flush();
  assert.deepEqual(writes, ["x\n"]);
  timers.shift()!.callback();
  batched.flush();
  assert.deepEqual(writes, ["x\n"]);
});
