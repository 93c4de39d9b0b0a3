import { performance } from "node:perf_hooks";
import { round, startSoakWorld } from "./soak-world.js";

const PROVIDER = "ayyeka-hang";
const CALLER = "orders-service";
const CALLERS = 20;

/**
 * A partner that never answers: how long callers wait for their 503 with the default upstream
 * policy (5 s per attempt, 3 attempts, 10 s overall deadline). 20 callers arrive together on a cold
 * provider; single-flight makes that one partner fetch (up to 3 attempts).
 */
export async function soak(): Promise<{ name: string; figures: Record<string, string | number> }> {
  const world = await startSoakWorld((raw) => {
    raw.providers[PROVIDER] = { ...raw.providers.ayyeka };
    raw.callers[CALLER].providers.push(PROVIDER);
  });
  try {
    await world.get("/api/token/ayyeka", CALLER); // a warm process and a minted caller token
    const partner = world.env.sandbox.ayyeka;
    partner.faults.push({ hang: true }, { hang: true }, { hang: true });
    const requestsBefore = partner.tokenRequests;
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        const status = await world.get(`/api/token/${PROVIDER}`, CALLER);
        return { status, ms: performance.now() - started };
      }),
    );
    partner.faults.length = 0;
    const times = answers.map((a) => a.ms).sort((a, b) => a - b);
    const statuses: Record<string, number> = {};
    for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1;
    return {
      name: "partner hangs (default policy: 5 s per attempt, 10 s deadline)",
      figures: {
        callers: CALLERS,
        statuses: JSON.stringify(statuses),
        answer_ms_min: round(times[0]!, 0),
        answer_ms_max: round(times[times.length - 1]!, 0),
        partner_requests: partner.tokenRequests - requestsBefore,
      },
    };
  } finally {
    await world.close();
  }
}
