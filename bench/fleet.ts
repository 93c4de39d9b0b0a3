import { join } from "node:path";
import { startDemoEnvironment } from "../dev/demo/environment.js";
import type { BrokerProcess, BrokerProcessOptions } from "../dev/host/broker-process.js";
import type { DevTls } from "../dev/tls.js";
import { burstAcross } from "./cold-burst.js";
import { coldCases, keepColdProvidersCold } from "./cold-cases.js";
import { expectOk } from "./expect-ok.js";
import { runLoad, type LoadFigures } from "./load.js";
import { processCpuMs } from "./process-cpu.js";
import { redisServerAvailable, startRedisServer } from "../dev/redis-server.js";
import { coldPass, compareBest, TARGET_REQ_RATIO, type BestComparison, type ColdResult } from "./report.js";

/**
 * The fleet run of `npm run bench`: N broker processes (local Functions hosts) sharing one Redis
 * and the sandbox partners.
 *  (i)  a cold burst per cold provider, spread round-robin over the N instances: fleet-wide
 *       single-flight means the sandbox sees exactly ONE upstream token request per provider;
 *  (ii) cache-hit throughput of one instance with Redis ON against a single broker with Redis OFF
 *       (no REDIS_URL), same load settings as the main hit run, interleaved on,off,on,off.
 */

export interface FleetBenchOptions {
  /** Broker processes on the shared Redis (BENCH_FLEET_BROKERS, >= 1). */
  brokers: number;
  tls: DevTls;
  /** The fleet's own demo world (config, secrets, issuer keys) and its logs go here. */
  workDir: string;
  /** App settings every broker gets (dev CA, quiet maintenance...); REDIS_URL is added here. */
  brokerEnv: Record<string, string | undefined>;
  load: { connections: number; pipelining: number; durationSec: number; warmupSec: number; rounds: number };
  burst: number;
  warmProvider: string;
  warmCaller: string;
  /** Starts a host process; the caller tracks it so an interrupted bench still kills it. */
  spawn(name: string, env: Record<string, string | undefined>, options?: BrokerProcessOptions): Promise<BrokerProcess>;
  stop(child: BrokerProcess): Promise<void>;
  /** Registers a cleanup the caller runs if the bench is interrupted; runFleetBench also runs it. */
  defer(cleanup: () => Promise<void>): void;
  progress(text: string): void;
}

export interface FleetBenchFigures {
  brokers: number;
  cold: ColdResult[];
  /** Baseline = Redis OFF (single broker), subject = Redis ON (instance 1 of the fleet). */
  hits: BestComparison;
  hitsReqPass: boolean;
  hitRuns: { label: string; round: number; figures: LoadFigures }[];
}

export type FleetBenchResult = FleetBenchFigures | { skipped: string };

/** How long a broker may take to connect both of its Redis clients after it listens. */
const REDIS_CONNECT_TIMEOUT_MS = 10_000;

export async function runFleetBench(o: FleetBenchOptions): Promise<FleetBenchResult> {
  if (!redisServerAvailable()) return { skipped: "redis-server is not on PATH (apt-get install redis-server)" };

  const cleanups: (() => Promise<void>)[] = [];
  const onCleanup = (fn: () => Promise<void>) => {
    let done = false;
    const once = async () => {
      if (done) return;
      done = true;
      await fn();
    };
    cleanups.push(once);
    o.defer(once);
  };
  try {
    o.progress("fleet: starting redis-server and the fleet's demo environment");
    const redis = await startRedisServer();
    onCleanup(() => redis.stop());
    const env = await startDemoEnvironment({ tls: o.tls, workDir: o.workDir, issuerDir: join(o.workDir, "issuer"), edit: keepColdProvidersCold });
    onCleanup(() => env.close());

    o.progress(`fleet: starting ${o.brokers} broker processes on one Redis`);
    const fleetEnv = { ...o.brokerEnv, ...env.brokerSettings({ REDIS_URL: redis.url }) };
    const fleet = await Promise.all(
      Array.from({ length: o.brokers }, async (_, i) => {
        const child = await o.spawn(`fleet-broker-${i + 1}`, fleetEnv, { logFile: join(o.workDir, `fleet-broker-${i + 1}.log`) });
        onCleanup(() => o.stop(child));
        // A burst before both Redis clients are up would measure the local fallback, not the fleet.
        await child.waitForLine(/"redis_connected".*"role":"client"/, REDIS_CONNECT_TIMEOUT_MS);
        await child.waitForLine(/"redis_connected".*"role":"subscriber"/, REDIS_CONNECT_TIMEOUT_MS);
        return child;
      }),
    );
    const urls = fleet.map((b) => b.url);

    // ---- (i) cold bursts over the whole fleet -----------------------------------------------------
    const cold: ColdResult[] = [];
    for (const c of coldCases(env)) {
      o.progress(`fleet: cold burst of ${o.burst} concurrent GET /api/token/${c.provider} over ${o.brokers} instances`);
      const token = await env.issuer.mint(c.caller, { ttlSec: 3600 });
      const before = c.upstreamTokenRequests();
      const figures = await burstAcross(
        urls.map((u) => `${u}/api/token/${c.provider}`),
        { authorization: `Bearer ${token}` },
        o.burst,
      );
      const upstreamTokenRequests = c.upstreamTokenRequests() - before;
      cold.push({ provider: c.provider, caller: c.caller, upstreamTokenRequests, burst: figures, pass: coldPass(upstreamTokenRequests, figures) });
    }

    // ---- (ii) hits on one instance: Redis ON vs a lone broker with Redis OFF ------------------------
    const on = fleet[0]!;
    o.progress("fleet: starting a broker without REDIS_URL for the Redis OFF baseline");
    const off = await o.spawn("fleet-broker-redis-off", { ...fleetEnv, REDIS_URL: undefined }, { logFile: join(o.workDir, "fleet-broker-redis-off.log") });
    onCleanup(() => o.stop(off));
    const token = await env.issuer.mint(o.warmCaller, { ttlSec: 3600 });
    const auth = { authorization: `Bearer ${token}` };
    const path = `/api/token/${o.warmProvider}`;
    await expectOk(on.url + path, auth, "fleet broker (Redis ON)", o.warmProvider);
    await expectOk(off.url + path, auth, "broker (Redis OFF)", o.warmProvider);

    const load = (target: BrokerProcess) =>
      runLoad({ url: target.url + path, headers: auth, ...o.load, serverCpuMs: () => processCpuMs(target.pid) });
    const hitRuns: FleetBenchFigures["hitRuns"] = [];
    const onRuns: LoadFigures[] = [];
    const offRuns: LoadFigures[] = [];
    for (let round = 1; round <= o.load.rounds; round++) {
      o.progress(`fleet round ${round}/${o.load.rounds}: Redis ON (instance 1 of ${o.brokers}), ${o.load.warmupSec}+${o.load.durationSec} s`);
      const a = await load(on);
      onRuns.push(a);
      hitRuns.push({ label: "Redis ON (fleet instance 1)", round, figures: a });
      o.progress(`fleet round ${round}/${o.load.rounds}: Redis OFF (lone broker), ${o.load.warmupSec}+${o.load.durationSec} s`);
      const b = await load(off);
      offRuns.push(b);
      hitRuns.push({ label: "Redis OFF (lone broker)", round, figures: b });
    }
    const hits = compareBest(offRuns, onRuns);
    return { brokers: o.brokers, cold, hits, hitsReqPass: hits.valid && hits.reqRatio >= TARGET_REQ_RATIO, hitRuns };
  } finally {
    // Brokers first (they hold Redis connections), then Redis and the sandbox.
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  }
}
