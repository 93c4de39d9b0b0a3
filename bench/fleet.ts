/**
 * ============================ HOOK: FLEET BENCHMARK (NOT IMPLEMENTED) ============================
 *
 * A later run will start N broker processes sharing one Redis (REDIS_URL) and measure what a fleet
 * adds: cache hits spread over the N processes (one autocannon run across their URLs), and one cold
 * burst split across all N — where the sandbox must still see exactly ONE upstream token request per
 * provider (fleet-wide single-flight). Everything needed is already in bench/run.ts:
 * spawnBrokerProcess(env with REDIS_URL, { logFile }) per instance, runLoad(), burst(), and the
 * sandbox counters (sandbox.ayyeka.tokenRequests, sandbox.authority.requestsFor(...)).
 *
 * run.ts calls runFleetBench() only when BENCH_FLEET_BROKERS is set, so the default bench never
 * reaches it.
 */

export interface FleetBenchOptions {
  /** Broker processes to start (BENCH_FLEET_BROKERS). */
  brokers: number;
  /** The shared Redis (BENCH_REDIS_URL). */
  redisUrl: string;
  durationSec: number;
}

export interface FleetBenchFigures {
  brokers: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  coldUpstreamRequests: Record<string, number>;
}

export async function runFleetBench(options: FleetBenchOptions): Promise<FleetBenchFigures> {
  throw new Error(`fleet benchmark (${options.brokers} brokers on ${options.redisUrl ? "Redis" : "no Redis"}) is not implemented yet: see bench/fleet.ts`);
}
