import type { CronSchedule } from "./ncrontab.js";

/** The timer object a timer-triggered handler receives (as `@azure/functions` types it). */
export interface TimerInfo {
  isPastDue: boolean;
  schedule: { adjustForDST: boolean };
  scheduleStatus: { last: string; next: string; lastUpdated: string };
}

export interface TimerJob {
  name: string;
  schedule: CronSchedule;
  runOnStartup: boolean;
  /** Must not throw: the host logs handler failures itself. */
  run(timer: TimerInfo): Promise<void>;
}

/** Time and timers, injected so the scheduling rules are tested without waiting. */
export interface TimerDriver {
  now(): number;
  setTimer(callback: () => void, delayMs: number): { cancel(): void };
}

/** setTimeout caps delays at 2^31-1 ms; longer waits are taken in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Real timers, unref'd so a host with only timers left does not keep the process alive. */
export const realTimerDriver: TimerDriver = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const handle = setTimeout(callback, Math.max(0, Math.min(delayMs, MAX_DELAY_MS)));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** An occurrence that starts more than this late counts as missed (`isPastDue`). */
const PAST_DUE_TOLERANCE_MS = 1000;

interface JobState {
  job: TimerJob;
  due: number;
  last: string;
  timer: { cancel(): void } | undefined;
}

/**
 * Fires timer jobs on their NCRONTAB schedules. Like the Functions host, a job never overlaps
 * itself: the next occurrence is armed only when a run has finished, and occurrences missed
 * meanwhile collapse into one immediate run with `isPastDue: true`.
 */
export class TimerScheduler {
  private readonly states = new Map<string, JobState>();
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    jobs: readonly TimerJob[],
    private readonly driver: TimerDriver = realTimerDriver,
  ) {
    const now = driver.now();
    const startedAt = new Date(now).toISOString();
    for (const job of jobs) {
      this.states.set(job.name, { job, due: job.schedule.next(new Date(now)).getTime(), last: startedAt, timer: undefined });
    }
  }

  start(): void {
    for (const state of this.states.values()) {
      if (state.job.runOnStartup) {
        const now = this.driver.now();
        this.track(this.runThenArm(state, this.info(state, false, now)));
      } else {
        this.arm(state);
      }
    }
  }

  /** The timer object for an on-demand run (admin API / `invoke`); the schedule is untouched. */
  manualInfo(name: string): TimerInfo | undefined {
    const state = this.states.get(name);
    return state && this.info(state, false, this.driver.now());
  }

  /** Stops arming and waits for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const state of this.states.values()) state.timer?.cancel();
    await Promise.all([...this.running]);
  }

  private arm(state: JobState): void {
    if (this.stopped) return;
    state.timer = this.driver.setTimer(() => this.fire(state), state.due - this.driver.now());
  }

  private fire(state: JobState): void {
    state.timer = undefined;
    if (this.stopped) return;
    const now = this.driver.now();
    // Early wake-ups (and each step of a wait longer than setTimeout allows) just re-arm.
    if (now < state.due) {
      this.arm(state);
      return;
    }
    const scheduled = state.due;
    state.due = state.job.schedule.next(new Date(now)).getTime();
    const info = this.info(state, now - scheduled > PAST_DUE_TOLERANCE_MS, now);
    state.last = new Date(scheduled).toISOString();
    this.track(this.runThenArm(state, info));
  }

  private async runThenArm(state: JobState, info: TimerInfo): Promise<void> {
    try {
      await state.job.run(info);
    } catch {
      // run() reports its own failures; a throw here must not stop the schedule.
    }
    this.arm(state);
  }

  private info(state: JobState, isPastDue: boolean, now: number): TimerInfo {
    return {
      isPastDue,
      schedule: { adjustForDST: true },
      scheduleStatus: { last: state.last, next: new Date(state.due).toISOString(), lastUpdated: new Date(now).toISOString() },
    };
  }

  private track(run: Promise<void>): void {
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }
}
