import type { Clock, Sleeper } from "../shared/clock.js";

/**
 * The real clock and sleeper, kept out of shared/: everything there receives a Clock and a
 * Sleeper, so tests drive time. functions/runtime.ts hands these in; dev/ and tests use them too.
 */
export const systemClock: Clock = { now: () => Date.now() };

export const systemSleeper: Sleeper = {
  sleep: (ms, signal) => wait(ms, signal, true),
  // A deadline never keeps the process alive on its own: the work it guards does, while it runs.
  deadline: (ms, signal) => wait(ms, signal, false),
};

function wait(ms: number, signal: AbortSignal | undefined, ref: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    if (!ref) timer.unref();
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}
