import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate as flush } from "node:timers/promises";
import { parseNcrontab } from "../../../dev/host/ncrontab.js";
import { TimerScheduler, type TimerDriver, type TimerInfo, type TimerJob } from "../../../dev/host/timer-scheduler.js";

const START = Date.UTC(2026, 10, 23, 12, 0, 0);

/** Virtual time: timers fire only when the test advances the clock past them. */
class FakeDriver implements TimerDriver {
  current = START;
  private timers: { at: number; callback: () => void; live: boolean }[] = [];
  now(): number {
    return this.current;
  }
  setTimer(callback: () => void, delayMs: number): { cancel(): void } {
    const timer = { at: this.current + Math.max(0, delayMs), callback, live: true };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.live = false;
      },
    };
  }
  get pending(): number {
    return this.timers.filter((t) => t.live).length;
  }
  /** Moves time forward, firing due timers in order and letting their async work settle. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((t) => t.live && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.current = Math.max(this.current, due.at);
      due.callback();
    }
    this.current = target;
    await flush();
  }
}

function job(schedule: string, overrides: Partial<TimerJob> = {}): TimerJob & { runs: TimerInfo[] } {
  const runs: TimerInfo[] = [];
  return {
    name: "tick",
    schedule: parseNcrontab(schedule),
    runOnStartup: false,
    run: async (info) => {
      runs.push(info);
    },
    runs,
    ...overrides,
  };
}

test("fires at each occurrence with the schedule status of that run", async () => {
  const driver = new FakeDriver();
  const j = job("0 */5 * * * *");
  const scheduler = new TimerScheduler([j], driver);
  scheduler.start();
  await driver.advance(4 * 60_000);
  assert.equal(j.runs.length, 0);
  await driver.advance(60_000);
  await driver.advance(5 * 60_000);
  assert.equal(j.runs.length, 2);
  assert.deepEqual(j.runs[1], {
    isPastDue: false,
    schedule: { adjustForDST: true },
    scheduleStatus: { last: "2026-11-23T12:05:00.000Z", next: "2026-11-23T12:15:00.000Z", lastUpdated: "2026-11-23T12:10:00.000Z" },
  });
  await scheduler.stop();
});

test("never overlaps a run and collapses missed occurrences into one past-due run", async () => {
  const driver = new FakeDriver();
  let release: () => void = () => {};
  let inFlight = 0;
  let maxInFlight = 0;
  const j = job("0 * * * * *");
  j.run = async (info) => {
    j.runs.push(info);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (j.runs.length === 1) await new Promise<void>((resolve) => (release = resolve));
    inFlight--;
  };
  const scheduler = new TimerScheduler([j], driver);
  scheduler.start();
  await driver.advance(60_000); // first run starts at 12:01 and hangs
  await driver.advance(5 * 60_000); // 12:02..12:06 pass while it runs
  assert.equal(j.runs.length, 1);
  release();
  await driver.advance(0);
  assert.equal(j.runs.length, 2, "one catch-up run, not five");
  assert.equal(j.runs[1]?.isPastDue, true);
  await driver.advance(60_000);
  assert.equal(j.runs.length, 3);
  assert.equal(j.runs[2]?.isPastDue, false);
  assert.equal(maxInFlight, 1);
  await scheduler.stop();
});

test("runs a runOnStartup job at once, then on its schedule", async () => {
  const driver = new FakeDriver();
  const j = job("0 0 * * * *", { runOnStartup: true });
  const scheduler = new TimerScheduler([j], driver);
  scheduler.start();
  await driver.advance(0);
  assert.equal(j.runs.length, 1);
  assert.equal(j.runs[0]?.scheduleStatus.next, "2026-11-23T13:00:00.000Z");
  await driver.advance(60 * 60_000);
  assert.equal(j.runs.length, 2);
  await scheduler.stop();
});

test("re-arms instead of running when a timer wakes up early", async () => {
  const driver = new FakeDriver();
  const j = job("0 0 0 1 1 *");
  const early: TimerDriver = {
    now: () => driver.now(),
    // Like setTimeout's 2^31-1 ms cap: a far occurrence is reached in several wake-ups.
    setTimer: (callback, delayMs) => driver.setTimer(callback, Math.min(delayMs, 24 * 3600_000)),
  };
  const scheduler = new TimerScheduler([j], early);
  scheduler.start();
  await driver.advance(30 * 24 * 3600_000);
  assert.equal(j.runs.length, 0);
  await driver.advance(10 * 24 * 3600_000);
  assert.equal(j.runs.length, 1);
  assert.equal(j.runs[0]?.scheduleStatus.next, "2028-01-01T00:00:00.000Z");
  await scheduler.stop();
});

test("stop cancels pending timers and waits for a run in progress", async () => {
  const driver = new FakeDriver();
  let release: () => void = () => {};
  let finished = false;
  const j = job("0 * * * * *");
  j.run = async () => {
    await new Promise<void>((resolve) => (release = resolve));
    finished = true;
  };
  const scheduler = new TimerScheduler([j], driver);
  scheduler.start();
  await driver.advance(60_000);
  const stopped = scheduler.stop();
  release();
  await stopped;
  assert.equal(finished, true);
  assert.equal(driver.pending, 0);
});

test("describes an on-demand run without moving the schedule", () => {
  const driver = new FakeDriver();
  const scheduler = new TimerScheduler([job("0 */5 * * * *")], driver);
  assert.deepEqual(scheduler.manualInfo("tick"), {
    isPastDue: false,
    schedule: { adjustForDST: true },
    scheduleStatus: { last: "2026-11-23T12:00:00.000Z", next: "2026-11-23T12:05:00.000Z", lastUpdated: "2026-11-23T12:00:00.000Z" },
  });
  assert.equal(scheduler.manualInfo("other"), undefined);
});
