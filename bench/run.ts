import { cpus, loadavg } from "node:os";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startDemoEnvironment, type DemoEnvironment } from "../dev/demo/environment.js";
import { spawnBrokerProcess, type BrokerProcess, type BrokerProcessOptions } from "../dev/host/broker-process.js";
import { KALIBRATE } from "../dev/sandbox/demo-identities.js";
import { ensureDevTls, withDevCa } from "../dev/tls.js";
import { burst } from "./cold-burst.js";
import { summarizeCpuProfile } from "./cpu-profile.js";
import { processCpuMs } from "./process-cpu.js";
import { runFleetBench } from "./fleet.js";
import { runLoad, type LoadFigures } from "./load.js";
import {
  coldPass,
  compareHits,
  formatCold,
  formatComparison,
  formatCpuPerRequest,
  formatProfile,
  formatRuns,
  type ColdResult,
  type ProfiledRun,
} from "./report.js";
import { readBenchSettings, type BenchSettings } from "./settings.js";
import { TRIVIAL_PATH } from "./trivial-host.js";

/**
 * `npm run bench`: on loopback, in one run and with the same load generator (autocannon),
 *  (a) the local Functions host serving a trivial function, and
 *  (b) cache hits of GET /api/token/{provider} on a broker process,
 * interleaved a,b,a,b; CPU profiles of both under the same load when the broker misses a target;
 * then (c) a cold single-flight burst per cold provider on fresh brokers. (d) BENCH_FLEET_BROKERS
 * is the hook for a later fleet run (bench/fleet.ts, not implemented).
 * Prints a table and, last, one JSON line with every figure. Progress goes to stderr.
 * Settings: BENCH_* (bench/settings.ts).
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, "..", "..");
const TRIVIAL_HOST_SCRIPT = join(HERE, "trivial-host.js");
/** A schedule that never fires during a bench: no maintenance run competes with the load. */
const QUIET_MAINTENANCE_SCHEDULE = "0 0 0 1 1 *";
const PROFILE_WARMUP_SEC = 1;

const progress = (text: string) => process.stderr.write(`# ${text}\n`);

const settings = settingsOrExit();
const workDir = resolve(REPO_ROOT, ".local", "bench");
const children = new Set<BrokerProcess>();
let demo: DemoEnvironment | undefined;

// Whatever happens (a hung request, a child that never answers), the bench ends by itself.
const budgetMs =
  (settings.rounds * 2 * (settings.durationSec + settings.warmupSec) + 2 * (settings.profileSec + PROFILE_WARMUP_SEC) + 90) * 1000;
const watchdog = setTimeout(() => {
  process.stderr.write(`bench: still running after ${budgetMs / 1000} s, giving up\n`);
  void cleanup().finally(() => process.exit(2));
}, budgetMs);
watchdog.unref();
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

try {
  await main(settings);
  process.exitCode = 0;
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
  clearTimeout(watchdog);
}

async function main(s: BenchSettings): Promise<void> {
  const started = Date.now();
  // Other work on the machine skews every figure: show how busy it was before we started.
  const loadBefore = loadavg()[0] ?? 0;
  if (s.fleetBrokers > 0) {
    // (d) The hook for the later fleet run; see bench/fleet.ts.
    await runFleetBench({ brokers: s.fleetBrokers, redisUrl: s.redisUrl ?? "", durationSec: s.durationSec });
    return;
  }

  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const tls = await ensureDevTls();
  progress("starting the sandbox partners and the demo configuration");
  demo = await startDemoEnvironment({
    tls,
    workDir,
    issuerDir: join(workDir, "issuer"),
    // The cold providers must not be pre-warmed by a maintenance run before the burst.
    edit: (raw) => {
      for (const name of ["kalibrate", "ayyeka"]) delete raw.providers?.[name]?.prewarm;
    },
  });
  const env = demo;
  const brokerEnv = {
    ...withDevCa(process.env, tls),
    BROKER_CONFIG: env.configPath,
    KEY_VAULT_URL: undefined,
    REDIS_URL: undefined,
    MAINTENANCE_SCHEDULE: QUIET_MAINTENANCE_SCHEDULE,
  };
  // Children log to files: a pipe would have to be drained by this process, which runs the load.
  const spawnChild = async (name: string, options: BrokerProcessOptions = {}) => {
    const child = await spawnBrokerProcess(brokerEnv, { logFile: join(workDir, `${name}.log`), ...options });
    children.add(child);
    return child;
  };
  const stopChild = async (child: BrokerProcess) => {
    await child.stop();
    children.delete(child);
  };

  // ---- (a) and (b): interleaved cache-hit comparison -------------------------------------------
  progress(`starting the trivial host and a broker (provider ${s.warmProvider} for ${s.warmCaller})`);
  const trivial = await spawnChild("trivial-host", { script: TRIVIAL_HOST_SCRIPT });
  const broker = await spawnChild("broker-hits");
  const callerToken = await env.issuer.mint(s.warmCaller, { ttlSec: 3600 });
  const auth = { authorization: `Bearer ${callerToken}` };
  const trivialUrl = trivial.url + TRIVIAL_PATH;
  const tokenUrl = `${broker.url}/api/token/${s.warmProvider}`;
  const bodyBytes = {
    trivial: await expectOk(trivialUrl, {}, "trivial host"),
    broker: await expectOk(tokenUrl, auth, `broker GET /api/token/${s.warmProvider}`, s.warmProvider),
  };

  const load = (url: string, headers: Record<string, string>, pid: number) =>
    runLoad({
      url,
      headers,
      connections: s.connections,
      pipelining: s.pipelining,
      durationSec: s.durationSec,
      warmupSec: s.warmupSec,
      serverCpuMs: () => processCpuMs(pid),
    });
  const runs: { label: string; round: number; figures: LoadFigures }[] = [];
  const trivialRuns: LoadFigures[] = [];
  const brokerRuns: LoadFigures[] = [];
  for (let round = 1; round <= s.rounds; round++) {
    progress(`round ${round}/${s.rounds}: (a) trivial, ${s.warmupSec}+${s.durationSec} s`);
    const a = await load(trivialUrl, {}, trivial.pid);
    trivialRuns.push(a);
    runs.push({ label: "(a) trivial", round, figures: a });
    progress(`round ${round}/${s.rounds}: (b) broker token hits, ${s.warmupSec}+${s.durationSec} s`);
    const b = await load(tokenUrl, auth, broker.pid);
    brokerRuns.push(b);
    runs.push({ label: `(b) token/${s.warmProvider}`, round, figures: b });
  }
  await stopChild(trivial);
  await stopChild(broker);
  const hits = compareHits(trivialRuns, brokerRuns);

  // ---- CPU profiles under the same load, when the broker misses (or when asked) --------------------
  let profiles: { trivial: ProfiledRun; broker: ProfiledRun } | undefined;
  if (s.profile === "always" || (s.profile === "auto" && !(hits.reqPass && hits.p99Pass))) {
    const profileLoad = (url: string, headers: Record<string, string>) =>
      runLoad({ url, headers, connections: s.connections, pipelining: s.pipelining, durationSec: s.profileSec, warmupSec: PROFILE_WARMUP_SEC });
    const profileUnderLoad = async (name: string, path: string, headers: Record<string, string>, options: BrokerProcessOptions, provider?: string) => {
      progress(`profiling ${name} under the same load (${PROFILE_WARMUP_SEC}+${s.profileSec} s, node --cpu-prof)`);
      const dir = join(workDir, "cpu-profile", name);
      mkdirSync(dir, { recursive: true });
      const spawnedAt = Date.now();
      const child = await spawnChild(`${name}-profiled`, { ...options, nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`] });
      await expectOk(child.url + path, headers, `profiled ${name}`, provider);
      const loadAt = Date.now();
      const figures = await profileLoad(child.url + path, headers);
      await stopChild(child); // V8 writes the profile as the process exits
      const file = newestFile(dir, ".cpuprofile");
      if (!file) throw new Error(`${name}: node --cpu-prof wrote no profile in ${dir}`);
      // Only the measured part of the load: start-up, module loading and warm-up are left out.
      const summary = summarizeCpuProfile(file, REPO_ROOT, {
        skipFirstMs: loadAt - spawnedAt + PROFILE_WARMUP_SEC * 1000,
        maxWindowMs: s.profileSec * 1000,
      });
      const cpuUsPerRequest = figures.total2xx > 0 ? (summary.busyMs * 1000) / figures.total2xx : 0;
      return { file: file.slice(REPO_ROOT.length + 1), figures, summary, cpuUsPerRequest } satisfies ProfiledRun;
    };
    profiles = {
      trivial: await profileUnderLoad("trivial-host", TRIVIAL_PATH, {}, { script: TRIVIAL_HOST_SCRIPT }),
      broker: await profileUnderLoad("broker", `/api/token/${s.warmProvider}`, auth, {}, s.warmProvider),
    };
  }

  // ---- (c) cold single-flight ---------------------------------------------------------------------
  const coldCases = [
    {
      provider: "kalibrate",
      caller: "orders-service",
      upstream: () => env.sandbox.authority.requestsFor(KALIBRATE.clientId, KALIBRATE.scope),
    },
    { provider: "ayyeka", caller: "orders-service", upstream: () => env.sandbox.ayyeka.tokenRequests },
  ];
  const cold: ColdResult[] = [];
  for (const c of coldCases) {
    progress(`cold burst: ${s.burst} concurrent GET /api/token/${c.provider} on a fresh broker`);
    const fresh = await spawnChild(`broker-cold-${c.provider}`);
    const token = await env.issuer.mint(c.caller, { ttlSec: 3600 });
    const before = c.upstream();
    const figures = await burst(`${fresh.url}/api/token/${c.provider}`, { authorization: `Bearer ${token}` }, s.burst);
    const upstreamTokenRequests = c.upstream() - before;
    await stopChild(fresh);
    cold.push({ provider: c.provider, caller: c.caller, upstreamTokenRequests, burst: figures, pass: coldPass(upstreamTokenRequests, figures) });
  }

  // The same burst on a fresh trivial host: what 1000 new connections cost without any broker work.
  progress(`cold burst baseline: ${s.burst} concurrent GET ${TRIVIAL_PATH} on a fresh trivial host`);
  const freshTrivial = await spawnChild("trivial-host-burst", { script: TRIVIAL_HOST_SCRIPT });
  const coldBaseline = await burst(freshTrivial.url + TRIVIAL_PATH, {}, s.burst);
  await stopChild(freshTrivial);

  // ---- report -------------------------------------------------------------------------------------
  const out: string[] = [
    "",
    `Token broker benchmark — loopback, node ${process.version}, ${cpus().length} CPU(s), 1-min load average ${loadBefore.toFixed(2)} before the run`,
    `load generator: autocannon in this process, ${s.connections} connections, pipelining ${s.pipelining}, ${s.warmupSec} s warm-up + ${s.durationSec} s per run`,
    "",
    "Runs (interleaved a,b,a,b):",
    formatRuns(runs),
    "",
    "Cache hits vs the trivial function:",
    formatComparison(hits, `GET /api/token/${s.warmProvider} (cache hit, ${s.warmCaller} JWT)`),
    `response bodies: (a) ${bodyBytes.trivial} bytes, (b) ${bodyBytes.broker} bytes`,
    "",
    `Cold single-flight (${s.burst} concurrent requests, fresh broker per provider):`,
    formatCold(cold, coldBaseline),
  ];
  if (profiles) {
    out.push(
      "",
      `CPU profiles (node --cpu-prof on the host process, ${s.profileSec} s of the same load after warm-up; files in ${join(".local", "bench", "cpu-profile")}):`,
      formatCpuPerRequest(profiles.trivial, profiles.broker),
      "",
      `(b) broker, GET /api/token/${s.warmProvider}:`,
      formatProfile(profiles.broker.summary, profiles.broker.figures.total2xx),
      "",
      "(a) trivial function, for reference:",
      formatProfile({ ...profiles.trivial.summary, topSelf: profiles.trivial.summary.topSelf.slice(0, 8), topOwnTotal: [] }, profiles.trivial.figures.total2xx),
    );
  }
  out.push("", `Broker logs: ${join(".local", "bench")}/*.log`, "");
  process.stdout.write(out.join("\n") + "\n");
  const json = {
    bench: "token-broker",
    node: process.version,
    cpus: cpus().length,
    load_average_before: Math.round(loadBefore * 100) / 100,
    settings: { ...s, redisUrl: undefined },
    hits: {
      selection: hits.selection,
      trivial: hits.trivial,
      broker: hits.broker,
      req_ratio: round3(hits.reqRatio),
      p99_ratio: round3(hits.p99Ratio),
      req_ratio_target: ">= 0.9",
      p99_ratio_target: "<= 1.2",
      req_ratio_pass: hits.reqPass,
      p99_ratio_pass: hits.p99Pass,
      valid: hits.valid,
      body_bytes: bodyBytes,
      runs,
    },
    cold: cold.map((c) => ({ ...c, burst: { ...c.burst, wallMs: Math.round(c.burst.wallMs) } })),
    cold_baseline_trivial: { ...coldBaseline, wallMs: Math.round(coldBaseline.wallMs) },
    profiles,
    elapsed_sec: Math.round((Date.now() - started) / 100) / 10,
  };
  process.stdout.write(JSON.stringify(json) + "\n");
}

/**
 * One request that must answer 200 (for the broker: the named provider's credential). Returns the
 * size of the body, which the load generator must also read on every request.
 */
async function expectOk(url: string, headers: Record<string, string>, what: string, provider?: string): Promise<number> {
  const response = await fetch(url, { headers });
  const raw = await response.text();
  let body: { provider?: unknown; code?: unknown } | undefined;
  try {
    body = JSON.parse(raw) as typeof body;
  } catch {
    body = undefined;
  }
  // Only status and error code are shown: a 200 body carries a credential.
  if (response.status !== 200) throw new Error(`${what}: expected 200, got ${response.status} (${String(body?.code ?? "no code")})`);
  if (provider !== undefined && body?.provider !== provider) throw new Error(`${what}: the 200 body is not a ${provider} credential`);
  return Buffer.byteLength(raw);
}

function newestFile(dir: string, suffix: string): string | undefined {
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f))
    .sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs)[0];
}

function settingsOrExit(): BenchSettings {
  try {
    return readBenchSettings(process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill().catch(() => undefined)));
  children.clear();
  const d = demo;
  demo = undefined;
  await d?.close();
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
