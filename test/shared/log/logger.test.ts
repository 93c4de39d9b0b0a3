import { test } from "node:test";
import assert from "node:assert/strict";
import { capFields, errorFields, JsonLineLogger, type LogFields } from "../../../shared/log/logger.js";
import { ManualClock } from "../../support/manual-clock.js";

test("writes one JSON object per line with time, level, event and the fields", () => {
  const lines: string[] = [];
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0, 5));
  const logger = new JsonLineLogger((l) => lines.push(l), clock);
  logger.log("info", "token_issued", { caller: 'a"b', provider: "flowe", cached: true, n: 3, gone: undefined, list: ["x"] });
  logger.log("warn", "bare");
  clock.advance(1);
  logger.log("error", "later", {});
  assert.ok(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n")));
  assert.deepEqual(JSON.parse(lines[0]!), {
    time: "2026-11-23T12:00:00.005Z",
    level: "info",
    event: "token_issued",
    caller: 'a"b',
    provider: "flowe",
    cached: true,
    n: 3,
    list: ["x"],
  });
  assert.deepEqual(JSON.parse(lines[1]!), { time: "2026-11-23T12:00:00.005Z", level: "warn", event: "bare" });
  assert.equal(JSON.parse(lines[2]!).time, "2026-11-23T12:00:00.006Z");
});

test("serializes the fields as they are at each call", () => {
  const lines: string[] = [];
  const logger = new JsonLineLogger((l) => lines.push(l), new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0, 5)));
  const mutable = { n: 1 };
  logger.log("warn", "counter", mutable);
  mutable.n = 2;
  logger.log("warn", "counter", mutable);
  assert.deepEqual(
    lines.map((l) => [JSON.parse(l).level, JSON.parse(l).n]),
    [
      ["warn", 1],
      ["warn", 2],
    ],
  );
});

test("drops lines below the minimum level", () => {
  const lines: string[] = [];
  const logger = new JsonLineLogger((l) => lines.push(l), new ManualClock(), "warn");
  logger.log("info", "quiet");
  logger.log("error", "loud");
  assert.equal(lines.length, 1);
});

test("errorFields keeps classes and codes but never messages", () => {
  const cause = Object.assign(new Error("body had CANARY-secret"), { code: "ECONNRESET" });
  const fields = errorFields(new Error("wrapper CANARY", { cause }));
  assert.deepEqual(fields.error_chain, ["Error", "Error:ECONNRESET"]);
  assert.doesNotMatch(JSON.stringify(fields), /CANARY/);
});

test("caps every string field and list at a fixed length, saying how much was cut", () => {
  const lines: string[] = [];
  const logger = new JsonLineLogger((line) => lines.push(line), new ManualClock());
  logger.log("info", "e", { name: "n".repeat(10_000), short: "ok", list: Array.from({ length: 40 }, (_, i) => `${i}`.repeat(300)) });
  assert.ok(lines[0]!.length < 12_000, `${lines[0]!.length} characters`);
  const record = JSON.parse(lines[0]!);
  assert.equal(record.name, `${"n".repeat(256)}…(+9744 chars)`);
  assert.equal(record.short, "ok");
  assert.equal(record.list.length, 33);
  assert.equal(record.list.at(-1), "…(+8 more)");
  const fields: LogFields = { a: "b" };
  assert.equal(capFields(fields), fields, "nothing to cut: no copy");
});
