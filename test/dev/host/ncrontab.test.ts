import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nextOccurrence, parseNcrontab } from "../../../dev/host/ncrontab.js";

const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string) => nextOccurrence(expr, at(after)).toISOString();

describe("nextOccurrence", () => {
  test("every 5 minutes fires on the next multiple of five minutes", () => {
    assert.equal(next("0 */5 * * * *", "2026-11-23T12:03:07Z"), "2026-11-23T12:05:00.000Z");
  });

  test("is strictly after the given time, even when that time is an occurrence", () => {
    assert.equal(next("0 */5 * * * *", "2026-11-23T12:05:00Z"), "2026-11-23T12:10:00.000Z");
    assert.equal(next("* * * * * *", "2026-11-23T12:00:00.500Z"), "2026-11-23T12:00:01.000Z");
  });

  test("walks lists in order and rolls over to the next day", () => {
    assert.equal(next("0 0 9,17 * * *", "2026-11-23T10:00:00Z"), "2026-11-23T17:00:00.000Z");
    assert.equal(next("0 0 9,17 * * *", "2026-11-23T17:00:00Z"), "2026-11-24T09:00:00.000Z");
  });

  test("honours weekday ranges (Friday evening -> Monday morning)", () => {
    assert.equal(next("0 30 9 * * 1-5", "2026-11-27T18:00:00Z"), "2026-11-30T09:30:00.000Z");
  });

  test("supports steps within ranges and from a start value", () => {
    const s = parseNcrontab("10-20/5 * * * * *");
    const seen = [s.next(at("2026-11-23T12:00:00Z")), s.next(at("2026-11-23T12:00:10Z")), s.next(at("2026-11-23T12:00:15Z")), s.next(at("2026-11-23T12:00:20Z"))];
    assert.deepEqual(seen.map((d) => d.toISOString().slice(14, 19)), ["00:10", "00:15", "00:20", "01:10"]);
    assert.equal(next("5/20 * * * * *", "2026-11-23T12:00:26Z"), "2026-11-23T12:00:45.000Z");
  });

  test("accepts month and weekday names in any case", () => {
    assert.equal(next("0 0 0 1 JAN *", "2026-11-23T00:00:00Z"), "2027-01-01T00:00:00.000Z");
    assert.equal(next("0 0 12 * * sun", "2026-11-23T00:00:00Z"), "2026-11-29T12:00:00.000Z");
  });

  test("skips months without the day and finds the next leap day", () => {
    assert.equal(next("0 0 0 31 * *", "2026-04-01T00:00:00Z"), "2026-05-31T00:00:00.000Z");
    assert.equal(next("0 0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
  });

  test("requires day and weekday to match together, as NCrontab does (first Monday)", () => {
    assert.equal(next("0 0 0 1-7 * mon", "2026-11-03T00:00:00Z"), "2026-12-07T00:00:00.000Z");
  });

  test("rolls over the year end", () => {
    assert.equal(next("0 0 0 * * *", "2026-12-31T23:59:59Z"), "2027-01-01T00:00:00.000Z");
  });
});

describe("parseNcrontab validation", () => {
  const bad: [string, RegExp][] = [
    ["0 */5 * * *", /expected 6 fields/],
    ["", /expected 6 fields/],
    ["00:05:00", /expected 6 fields/],
    ["60 * * * * *", /second field "60" has 60 outside 0-59/],
    ["* * 24 * * *", /hour field/],
    ["* * * 0 * *", /day field/],
    ["* * * * 13 *", /month field/],
    ["* * * * * 7", /day-of-week field/],
    ["*/0 * * * * *", /step out of range/],
    ["*/x * * * * *", /bad step/],
    ["1/2/3 * * * * *", /more than one '\/'/],
    ["5-1 * * * * *", /descending range/],
    ["x * * * * *", /unknown value "x"/],
    ["1-2-3 * * * * *", /bad range/],
    ["0 0 0 31 2 *", /no occurrence/],
  ];
  test("names the forms it does not emulate: a TimeSpan schedule, a five-field Unix cron", () => {
    assert.throws(() => parseNcrontab("00:05:00"), /expected 6 fields.*TimeSpan schedule \(hh:mm:ss\) runs only on App Service plans.*does not emulate it/);
    assert.throws(() => parseNcrontab("1.00:00:00"), /TimeSpan schedule/);
    assert.throws(() => parseNcrontab("*/5 * * * *"), /expected 6 fields.*five-field Unix cron lacks the leading \{second\} field/);
    assert.throws(() => parseNcrontab("0 0 * * * * *"), (e: Error) => /got 7$/.test(e.message));
  });

  for (const [expr, message] of bad) {
    test(`rejects "${expr}" naming the problem`, () => {
      assert.throws(() => parseNcrontab(expr), message);
    });
  }
});
