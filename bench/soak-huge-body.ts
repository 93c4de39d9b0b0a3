import { performance } from "node:perf_hooks";
import { round, startSoakWorld } from "./soak-world.js";

const PROVIDER = "ayyeka-huge";
const CALLER = "orders-service";
const BODY_BYTES = 500 * 1024 * 1024;

/**
 * A partner answering a 500 MB token response (chunked, so no Content-Length gives it away): the
 * broker's RSS before and after, its peak, and how much the partner could send before the broker
 * hung up. One partner answer, one caller request.
 */
export async function soak(): Promise<{ name: string; figures: Record<string, string | number> }> {
  const world = await startSoakWorld((raw) => {
    raw.providers[PROVIDER] = { ...raw.providers.ayyeka };
    raw.callers[CALLER].providers.push(PROVIDER);
  });
  try {
    // Warm the process first (a normal fetch), so "before" is a broker that has served.
    await world.get("/api/token/ayyeka", CALLER);
    const before = world.memory();
    const fault: { hugeBodyBytes: number; written?: number } = { hugeBodyBytes: BODY_BYTES };
    world.env.sandbox.ayyeka.faults.push(fault);
    const started = performance.now();
    const status = await world.get(`/api/token/${PROVIDER}`, CALLER);
    const answeredMs = performance.now() - started;
    const after = world.memory();
    return {
      name: "partner answers a 500 MB body",
      figures: {
        caller_status: status,
        answered_ms: round(answeredMs, 0),
        rss_before_mb: before?.rssMb ?? "n/a",
        rss_after_mb: after?.rssMb ?? "n/a",
        rss_peak_mb: after?.peakMb ?? "n/a",
        partner_body_mb: round(BODY_BYTES / 1024 / 1024, 0),
        partner_sent_before_hang_up_mb: round((fault.written ?? 0) / 1024 / 1024, 2),
      },
    };
  } finally {
    await world.close();
  }
}
