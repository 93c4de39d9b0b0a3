import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { BrokerProcess } from "../dev/host/broker-process.js";
import { DEPLOYABLE_ROOT } from "../dev/host/serve-functions.js";
import {
  firstReady,
  median,
  medianRatio,
  oneFunctionApps,
  probeImport,
  type ColdApp,
  type ColdStartResult,
  type ColdStartRound,
  type FirstRequest,
  type SpawnHost,
} from "./cold-start.js";

export interface ColdStartBenchOptions {
  repoRoot: string;
  /** Compiled bench folder (dist/bench): holds import-probe.js. */
  benchDir: string;
  workDir: string;
  /** App settings of a broker (BROKER_CONFIG of the demo world, dev CA trusted...). */
  brokerEnv: Record<string, string | undefined>;
  spawn: SpawnHost;
  stop: (child: BrokerProcess) => Promise<void>;
  rounds: number;
  /** A caller JWT allowed the two cold Entra providers. */
  callerToken: string;
  /** Two Entra providers left cold (no pre-warm): the first request and the one after it. */
  coldProviders: readonly [string, string];
  progress: (text: string) => void;
  /** Another app folder (an older build of the broker) measured in the same rounds, for information. */
  compare?: string;
}

export const BROKER_LABEL = "token broker";
export const COMPARED_LABEL = "compared app (BENCH_COLD_START_COMPARE)";

/**
 * Cold start in paired rounds: in each round, for the broker (the deployable, dist/package) and the
 * one-function apps, (1) a fresh process importing the `main` glob as the worker does, and (2) a
 * fresh local host timed from spawn to its first 200; the order of the apps alternates between rounds.
 * Each round's broker host then serves its first request, a cold token.
 */
export async function runColdStartBench(o: ColdStartBenchOptions): Promise<ColdStartResult> {
  const baselines = await oneFunctionApps(o.repoRoot, join(o.workDir, "apps"));
  const broker: ColdApp = { label: BROKER_LABEL, root: DEPLOYABLE_ROOT, readyPath: "/api/health", env: o.brokerEnv };
  const compared: ColdApp[] = o.compare ? [{ label: COMPARED_LABEL, root: o.compare, readyPath: "/api/health", env: o.brokerEnv }] : [];
  const apps = [broker, baselines.bundled, baselines.plain, ...compared];
  const probe = join(o.benchDir, "import-probe.js");
  const rounds: ColdStartRound[] = [];
  const firstRequest: FirstRequest[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    o.progress(`cold start round ${round}/${o.rounds}: import and first health, broker and one-function apps`);
    const order = round % 2 ? apps : [...apps].reverse();
    const r: ColdStartRound = { round, importMs: {}, importCpuMs: {}, firstHealthMs: {}, rssMiB: {} };
    for (const app of order) {
      const imported = await probeImport(probe, app, o.brokerEnv);
      r.importMs[app.label] = imported.importMs;
      r.importCpuMs[app.label] = imported.importCpuMs;
      r.rssMiB[app.label] = imported.rssMiB;
    }
    for (const app of order) {
      const { host, ms } = await firstReady(o.spawn, `cold-start-${round}-${app === broker ? "broker" : app.label.replace(/\W+/g, "-")}`, app, o.brokerEnv);
      r.firstHealthMs[app.label] = ms;
      if (app === broker || compared.includes(app)) firstRequest.push({ app: app.label, ...(await timeFirstRequests(host, o.callerToken, o.coldProviders)) });
      await o.stop(host);
    }
    rounds.push(r);
  }
  const labels = apps.map((a) => a.label);
  const medians = (pick: (r: ColdStartRound) => Record<string, number>) =>
    Object.fromEntries(labels.map((l) => [l, median(rounds.map((r) => pick(r)[l]!))]));
  const ratios = (pick: (r: ColdStartRound) => Record<string, number>) =>
    Object.fromEntries([baselines.bundled, baselines.plain].map((b) => [b.label, medianRatio(rounds, pick, BROKER_LABEL, b.label)]));
  return {
    rounds,
    importRatio: ratios((r) => r.importMs),
    importCpuRatio: ratios((r) => r.importCpuMs),
    firstHealthRatio: ratios((r) => r.firstHealthMs),
    median: { importMs: medians((r) => r.importMs), importCpuMs: medians((r) => r.importCpuMs), firstHealthMs: medians((r) => r.firstHealthMs), rssMiB: medians((r) => r.rssMiB) },
    firstRequest,
  };
}

async function timeFirstRequests(host: BrokerProcess, callerToken: string, [first, second]: readonly [string, string]): Promise<Omit<FirstRequest, "app">> {
  const timed = async (provider: string) => {
    const started = performance.now();
    const res = await fetch(`${host.url}/api/token/${provider}`, { headers: { authorization: `Bearer ${callerToken}` } });
    await res.arrayBuffer(); // a credential: read and dropped, never printed
    if (res.status !== 200) throw new Error(`cold start: first GET /api/token/${provider} answered ${res.status}`);
    return performance.now() - started;
  };
  return { firstColdTokenMs: await timed(first), secondColdTokenMs: await timed(second) };
}
