import type { Clock, Sleeper } from "./clock.js";

/**
 * The real clock and sleeper. Only the composition root and dev/ may use these; everything in
 * shared/ receives a Clock so tests can drive time.
 */
export const systemClock: Clock = { now: () => Date.now() };

export const systemSleeper: Sleeper = {
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(done, ms);
      function done() {
        signal?.removeEventListener("abort", abort);
        resolve();
      }
      function abort() {
        clearTimeout(timer);
        reject(signal?.reason);
      }
      signal?.addEventListener("abort", abort, { once: true });
    }),
};
