/**
 * Lets I/O and timers run until `condition` holds (real time, polled every few ms), or fails
 * after `timeoutMs`. For tests that move a manual clock once a request is really under way.
 */
export async function waitUntil(condition: () => boolean, what = "condition", timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
