import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchedSink } from "../../../shared/log/batched-sink.js";

test("lines logged in one turn are written together, in order, once the turn ends", () => {
  const writes: string[] = [];
  const scheduled: (() => void)[] = [];
  const batched = new BatchedSink((chunk) => writes.push(chunk), (cb) => scheduled.push(cb));
  batched.sink("a\n");
  batched.sink("b\n");
  batched.sink("c\n");
  assert.deepEqual(writes, []);
  assert.equal(scheduled.length, 1, "one flush per turn");
  scheduled.shift()!();
  assert.deepEqual(writes, ["a\nb\nc\n"]);
  batched.sink("d\n");
  assert.equal(scheduled.length, 1);
  batched.flush();
  assert.deepEqual(writes, ["a\nb\nc\n", "d\n"]);
  scheduled.shift()!(); // the already-scheduled flush finds nothing left
  assert.equal(writes.length, 2);
});
