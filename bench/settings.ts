import { z } from "zod";

const PositiveInt = (fallback: number, max: number) =>
  z.preprocess((v) => (v === "" || v === undefined ? undefined : Number(v)), z.number().int().min(1).max(max).default(fallback));
const NonNegativeInt = (fallback: number, max: number) =>
  z.preprocess((v) => (v === "" || v === undefined ? undefined : Number(v)), z.number().int().min(0).max(max).default(fallback));

/** The hit benchmark serves this provider to this caller (grants from dev/demo/broker.config.json). */
const WARM_CALLERS: Record<string, string> = { ayyeka: "orders-service", phixflow: "payments-service" };

/**
 * Defaults keep a whole `npm run bench` near 3.5 minutes on two cores: 5 rounds x (a, a', b, a'',
 * b'') and 5 rounds x (Redis on, off) of 1 + 3 s each, the cold bursts and the process start-ups.
 * Many short interleaved rounds rather than a few long ones: on a small VM a run now and then lands
 * in a slow scheduling pattern for its whole length, and the best of five sees past that.
 */
const BenchEnvSchema = z.object({
  BENCH_DURATION_SEC: PositiveInt(3, 600),
  BENCH_WARMUP_SEC: NonNegativeInt(1, 60),
  BENCH_ROUNDS: PositiveInt(5, 20),
  BENCH_CONNECTIONS: PositiveInt(50, 10_000),
  BENCH_BURST: PositiveInt(1000, 10_000),
  /** Warm provider for the cache-hit run: ayyeka (an OAuth2 token, default) or phixflow (an API key). */
  BENCH_PROVIDER: z.enum(["ayyeka", "phixflow"]).default("ayyeka"),
  /** auto (default): profile the broker only when it misses a target; 1: always; 0: never. */
  BENCH_PROFILE: z.enum(["auto", "1", "0"]).default("auto"),
  BENCH_PROFILE_SEC: PositiveInt(5, 120),
  /** Fleet run (bench/fleet.ts): broker processes on one local redis-server; 0 skips the fleet run. */
  BENCH_FLEET_BROKERS: NonNegativeInt(4, 64),
  /** 1: servers on the last CPU, the load generator on the others (bench/cpu-pinning.ts); 0 (default): unpinned. */
  BENCH_PIN: z.enum(["1", "0"]).default("0"),
  /** Paired cold-start rounds (bench/cold-start-run.ts); 0 skips the cold-start run. */
  BENCH_COLD_START_ROUNDS: NonNegativeInt(7, 50),
  /** cold-start: only the cold-start run (about 20 s); all (default): everything. */
  BENCH_ONLY: z.enum(["all", "cold-start"]).default("all"),
  /** Another function app folder (e.g. an older build) measured in the same cold-start rounds, for information. */
  BENCH_COLD_START_COMPARE: z.string().optional(),
  /** Another checkout with a built dist/ (e.g. an earlier commit): its broker serves the same hits, interleaved with (b). */
  BENCH_HITS_COMPARE: z.string().optional(),
});

export interface BenchSettings {
  durationSec: number;
  warmupSec: number;
  rounds: number;
  connections: number;
  pipelining: number;
  burst: number;
  warmProvider: string;
  warmCaller: string;
  profile: "auto" | "always" | "never";
  profileSec: number;
  fleetBrokers: number;
  pin: boolean;
  coldStartRounds: number;
  only: "all" | "cold-start";
  coldStartCompare: string | undefined;
  hitsCompare: string | undefined;
}

/** Reads BENCH_* from the environment (validated: a typo must not silently bench something else). */
export function readBenchSettings(env: Record<string, string | undefined>): BenchSettings {
  const parsed = BenchEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(`Invalid benchmark settings:\n  - ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  - ")}`);
  }
  const e = parsed.data;
  return {
    durationSec: e.BENCH_DURATION_SEC,
    warmupSec: e.BENCH_WARMUP_SEC,
    rounds: e.BENCH_ROUNDS,
    connections: e.BENCH_CONNECTIONS,
    pipelining: 1,
    burst: e.BENCH_BURST,
    warmProvider: e.BENCH_PROVIDER,
    warmCaller: WARM_CALLERS[e.BENCH_PROVIDER]!,
    profile: e.BENCH_PROFILE === "1" ? "always" : e.BENCH_PROFILE === "0" ? "never" : "auto",
    profileSec: e.BENCH_PROFILE_SEC,
    fleetBrokers: e.BENCH_FLEET_BROKERS,
    pin: e.BENCH_PIN === "1",
    coldStartRounds: e.BENCH_COLD_START_ROUNDS,
    only: e.BENCH_ONLY,
    coldStartCompare: e.BENCH_COLD_START_COMPARE || undefined,
    hitsCompare: e.BENCH_HITS_COMPARE || undefined,
  };
}
