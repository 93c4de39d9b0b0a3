import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryLogger } from "../../../shared/log/logger.js";
import { ThrottledLog } from "../../../shared/log/throttled-log.js";
import { ManualClock } from "../../support/manual-clock.js";

test("ThrottledLog writes one line per key and interval and drops the rest", () => {
  const clock = new ManualClock();
  const logger = new MemoryLogger();
  const log = new ThrottledLog(logger, clock, 1_000);
  log.log("warn", "a", "event_a", { n: 1 });
  log.log("warn", "a", "event_a", { n: 2 });
  log.log("error", "b", "event_b", { n: 3 });
  clock.advance(999);
  log.log("warn", "a", "event_a", { n: 4 });
  clock.advance(1);
  log.log("warn", "a", "event_a", { n: 5 });
  assert.deepEqual(
    logger.records.map((r) => [r.level, r.event, r.fields.n]),
    [
      ["warn", "event_a", 1],
      ["error", "event_b", 3],
      ["warn", "event_a", 5],
    ],
  );
});
