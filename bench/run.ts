import { execFile } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { promisify } from "node:util";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startDemoEnvironment, type DemoEnvironment } from "../dev/demo/environment.js";
import { spawnBrokerProcess, type BrokerProcess, type BrokerProcessOptions } from "../dev/host/broker-process.js";
import { ensureDevTls, withDevCa } from "../dev/tls.js";
import { formatAssertionLatency, type AssertionLatencyResult } from "./assertion-latency.js";
import { burst } from "./cold-burst.js";
import { pinThisProcess, planCpus, type CpuPlan } from "./cpu-pinning.js";
import { coldCases, keepColdProvidersCold } from "./cold-cases.js";
import { formatColdStart, type ColdStartResult } from "./cold-start.js";
import { BROKER_LABEL, runColdStartBench } from "./cold-start-run.js";
import { summarizeCpuProfile } from "./cpu-profile.js";
import { expectOk } from "./expect-ok.js";
import { processCpuMs } from "./process-cpu.js";
import { runFleetBench, type FleetBenchResult } from "./fleet.js";
import { runLoad, type LoadFigures } from "./load.js";
import {
  coldPass,
  compareHits,
  formatCold,
  formatCpuPerRequest,
  formatFleet,
  formatHitComparisons,
  formatSameProcessComparison,
  formatBuildComparison,
  formatProfile,
  formatRuns,
  type ColdResult,
  type HitComparison,
  type ProfiledRun,
} from "./report.js";
import { readBenchSettings, type BenchSettings } from "./settings.js";
import { MATCHED_BODY_BYTES_ENV, MATCHED_CONTENT_TYPE_ENV } from "./matched-body.js";
import { TRIVIAL_MATCHED_FUNCTION_MODULE, TRIVIAL_MATCHED_PATH, TRIVIAL_PATH } from "./trivial-host.js";

/**
 * `npm run bench`: on loopback, in one run and with the same load generator (autocannon),
 *  (a)  the local Functions host serving a trivial function (no Authorization header, tiny body),
 *  (a') the same host serving a trivial function "matched" to (b): the same request headers
 *       (the same caller JWT) and a static body of the same size and content-type as (b)'s,
 *  (b)  cache hits of GET /api/token/{provider} on a broker process,
 *  (a'') and (b'') the matched trivial function and the token hits served by ONE broker process,
 * interleaved a,a',b,a'',b'' per round so drift hits all alike; b/a, b/a' and b''/a'' are all
 * reported with their verdicts. CPU profiles of (a') and (b) under the same load when the broker misses a target
 * against the matched baseline; (c) a cold single-flight burst per cold provider on fresh brokers;
 * (d) the fleet run (bench/fleet.ts): N brokers on one Redis, a cold burst over all of them and
 * hits with Redis on vs off.
 * Prints a table and, last, one JSON line with every figure. Progress goes to stderr.
 * Settings: BENCH_* (bench/settings.ts).
 */

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, "..", "..");
const TRIVIAL_HOST_SCRIPT = join(HERE, "trivial-host.js");
/** A schedule that never fires during a bench: no maintenance run competes with the load. */
const QUIET_MAINTENANCE_SCHEDULE = "0 0 0 1 1 *";
const PROFILE_WARMUP_SEC = 1;
/** Cold start's first requests: two Entra providers the demo grants this caller, neither pre-warmed. */
const COLD_START_CALLER = "orders-service";
const COLD_START_PROVIDERS = ["kalibrate", "flowe"] as const;

const progress = (text: string) => process.stderr.write(`# ${text}\n`);

const settings = settingsOrExit();
const workDir = resolve(REPO_ROOT, ".local", "bench");
const children = new Set<BrokerProcess>();
/** Cleanups registered by the fleet run (Redis, its demo world), run if the bench is interrupted. */
const deferred: (() => Promise<void>)[] = [];
let demo: DemoEnvironment | undefined;

// Whatever happens (a hung request, a child that never answers), the bench ends by itself.
const runSec = settings.durationSec + settings.warmupSec;
const budgetMs =
  (settings.rounds * (settings.hitsCompare ? 6 : 5) * runSec +
    2 * (settings.profileSec + PROFILE_WARMUP_SEC) +
    (settings.fleetBrokers > 0 ? settings.rounds * 2 * runSec + 60 : 0) +
    settings.coldStartRounds * 15 +
    // the private_key_jwt latency child (600 sequential fetches, bounded by its own timeout)
    120 +
    90) *
  1000;
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

  let cpuPlan: CpuPlan = planCpus(cpus().length, s.pin);
  if (!pinThisProcess(cpuPlan)) cpuPlan = { description: "not pinned (taskset refused)" };
  progress(`CPU placement: ${cpuPlan.description}`);

  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const tls = await ensureDevTls();
  progress("starting the sandbox partners and the demo configuration");
  // The cold providers must not be pre-warmed by a maintenance run before the burst.
  demo = await startDemoEnvironment({ tls, workDir, issuerDir: join(workDir, "issuer"), edit: keepColdProvidersCold });
  const env = demo;
  const brokerEnv = { ...withDevCa(process.env, tls), ...env.brokerSettings({ MAINTENANCE_SCHEDULE: QUIET_MAINTENANCE_SCHEDULE }) };
  // Children log to files: a pipe would have to be drained by this process, which runs the load.
  const spawnProcess = async (name: string, childEnv: Record<string, string | undefined>, options: BrokerProcessOptions = {}) => {
    const child = await spawnBrokerProcess(childEnv, { logFile: join(workDir, `${name}.log`), cpus: cpuPlan.servers, ...options });
    children.add(child);
    return child;
  };
  const spawnChild = (name: string, options: BrokerProcessOptions = {}) => spawnProcess(name, brokerEnv, options);
  const stopChild = async (child: BrokerProcess) => {
    await child.stop();
    children.delete(child);
  };

  // ---- cold start: first, while no other broker process runs --------------------------------------
  let coldStart: ColdStartResult | undefined;
  if (s.coldStartRounds > 0) {
    coldStart = await runColdStartBench({
      repoRoot: REPO_ROOT,
      benchDir: HERE,
      workDir: join(workDir, "cold-start"),
      brokerEnv,
      spawn: spawnProcess,
      stop: stopChild,
      rounds: s.coldStartRounds,
      callerToken: await env.issuer.mint(COLD_START_CALLER, { ttlSec: 3600 }),
      coldProviders: COLD_START_PROVIDERS,
      progress,
      compare: s.coldStartCompare,
    });
  }
  const coldStartText = coldStart
    ? ["", `Cold start (a fresh process per figure; the broker is the deployable, ${join("dist", "package")}):`, formatColdStart(coldStart, BROKER_LABEL, ["one function, bundled", "one function, tsc"], "one function, bundled")]
    : [];
  if (s.only === "cold-start") {
    process.stdout.write([`Token broker cold start — node ${process.version}, ${cpus().length} CPU(s), 1-min load average ${loadBefore.toFixed(2)} before the run`, ...coldStartText, ""].join("\n") + "\n");
    process.stdout.write(JSON.stringify({ bench: "token-broker", node: process.version, cold_start: coldStart }) + "\n");
    return;
  }

  // ---- (a), (a'), (b), (a''), (b''): interleaved cache-hit comparison -----------------------------------------
  progress(`starting a broker (provider ${s.warmProvider} for ${s.warmCaller}) and the trivial host`);
  const broker = await spawnChild("broker-hits");
  const callerToken = await env.issuer.mint(s.warmCaller, { ttlSec: 3600 });
  const auth = { authorization: `Bearer ${callerToken}` };
  const tokenUrl = `${broker.url}/api/token/${s.warmProvider}`;
  const brokerOk = await expectOk(tokenUrl, auth, `broker GET /api/token/${s.warmProvider}`, s.warmProvider);
  // (a') is built from this real (b) response: same size, same content-type, made once at start-up.
  const matchedEnv = {
    ...brokerEnv,
    [MATCHED_BODY_BYTES_ENV]: String(brokerOk.bodyBytes),
    [MATCHED_CONTENT_TYPE_ENV]: brokerOk.contentType,
  };
  const trivial = await spawnProcess("trivial-host", matchedEnv, { script: TRIVIAL_HOST_SCRIPT });
  const trivialUrl = trivial.url + TRIVIAL_PATH;
  const matchedUrl = trivial.url + TRIVIAL_MATCHED_PATH;
  const trivialOk = await expectOk(trivialUrl, {}, "trivial host");
  const matchedOk = await expectOk(matchedUrl, auth, "trivial host, matched");
  if (matchedOk.bodyBytes !== brokerOk.bodyBytes || matchedOk.contentType !== brokerOk.contentType) {
    throw new Error(
      `the matched baseline does not match (b): ${matchedOk.bodyBytes} bytes of ${matchedOk.contentType} vs ${brokerOk.bodyBytes} bytes of ${brokerOk.contentType}`,
    );
  }
  const bodyBytes = { trivial: trivialOk.bodyBytes, trivial_matched: matchedOk.bodyBytes, broker: brokerOk.bodyBytes };
  // (a'') and (b''): a second broker process that also serves the matched trivial function, so
  // both routes run in one process with the same runtime, modules and heap: the difference is the
  // broker's per-request work alone.
  const same = await spawnProcess("broker-same-process", { ...matchedEnv, LOCAL_HOST_EXTRA_MODULES: TRIVIAL_MATCHED_FUNCTION_MODULE });
  const sameTokenUrl = `${same.url}/api/token/${s.warmProvider}`;
  const sameMatchedUrl = same.url + TRIVIAL_MATCHED_PATH;
  await expectOk(sameTokenUrl, auth, "broker (same process) token", s.warmProvider);
  await expectOk(sameMatchedUrl, auth, "broker (same process) trivial, matched");
  // (b~): the broker of another build (BENCH_HITS_COMPARE), served by that build's own local host.
  const compared = s.hitsCompare
    ? await spawnProcess("broker-compared", brokerEnv, { script: join(resolve(s.hitsCompare), "dist", "dev", "host", "serve-functions.js") })
    : undefined;
  if (compared) await expectOk(`${compared.url}/api/token/${s.warmProvider}`, auth, "compared build's broker token", s.warmProvider);

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
  const matchedRuns: LoadFigures[] = [];
  const brokerRuns: LoadFigures[] = [];
  const sameMatchedRuns: LoadFigures[] = [];
  const sameBrokerRuns: LoadFigures[] = [];
  const comparedRuns: LoadFigures[] = [];
  const targets = [
    { label: "(a)  trivial", what: "(a) trivial", url: trivialUrl, headers: {}, pid: trivial.pid, into: trivialRuns },
    { label: "(a') trivial, matched", what: "(a') trivial, matched", url: matchedUrl, headers: auth, pid: trivial.pid, into: matchedRuns },
    { label: `(b)  token/${s.warmProvider}`, what: "(b) broker token hits", url: tokenUrl, headers: auth, pid: broker.pid, into: brokerRuns },
    { label: "(a'') trivial, matched, broker process", what: "(a'') trivial in the broker process", url: sameMatchedUrl, headers: auth, pid: same.pid, into: sameMatchedRuns },
    { label: `(b'') token/${s.warmProvider}, same process`, what: "(b'') token hits, same process", url: sameTokenUrl, headers: auth, pid: same.pid, into: sameBrokerRuns },
    ...(compared
      ? [{ label: `(b~) token/${s.warmProvider}, compared build`, what: "(b~) compared build's token hits", url: `${compared.url}/api/token/${s.warmProvider}`, headers: auth, pid: compared.pid, into: comparedRuns }]
      : []),
  ];
  for (let round = 1; round <= s.rounds; round++) {
    for (const t of targets) {
      progress(`round ${round}/${s.rounds}: ${t.what}, ${s.warmupSec}+${s.durationSec} s`);
      const figures = await load(t.url, t.headers, t.pid);
      t.into.push(figures);
      runs.push({ label: t.label, round, figures });
    }
  }
  await stopChild(trivial);
  await stopChild(broker);
  await stopChild(same);
  if (compared) await stopChild(compared);
  const hits = compareHits(trivialRuns, brokerRuns);
  const hitsCompared = compared ? compareHits(comparedRuns, brokerRuns) : undefined;
  const hitsMatched = compareHits(matchedRuns, brokerRuns);
  const hitsSameProcess = compareHits(sameMatchedRuns, sameBrokerRuns);

  // ---- CPU profiles under the same load, when the broker misses (or when asked) --------------------
  // Against the matched baseline: the difference in CPU per request is then the broker's own work,
  // not the cost of reading a bigger request and writing a bigger response.
  let profiles: { trivial: ProfiledRun; broker: ProfiledRun } | undefined;
  if (s.profile === "always" || (s.profile === "auto" && !(hitsMatched.reqPass && hitsMatched.p99Pass))) {
    const profileLoad = (url: string, headers: Record<string, string>) =>
      runLoad({ url, headers, connections: s.connections, pipelining: s.pipelining, durationSec: s.profileSec, warmupSec: PROFILE_WARMUP_SEC });
    const profileUnderLoad = async (
      name: string,
      path: string,
      headers: Record<string, string>,
      childEnv: Record<string, string | undefined>,
      options: BrokerProcessOptions,
      provider?: string,
    ) => {
      progress(`profiling ${name} under the same load (${PROFILE_WARMUP_SEC}+${s.profileSec} s, node --cpu-prof)`);
      const dir = join(workDir, "cpu-profile", name);
      mkdirSync(dir, { recursive: true });
      const spawnedAt = Date.now();
      const child = await spawnProcess(`${name}-profiled`, childEnv, { ...options, nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`] });
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
      trivial: await profileUnderLoad("trivial-matched", TRIVIAL_MATCHED_PATH, auth, matchedEnv, { script: TRIVIAL_HOST_SCRIPT }),
      broker: await profileUnderLoad("broker", `/api/token/${s.warmProvider}`, auth, brokerEnv, {}, s.warmProvider),
    };
  }

  // ---- (c) cold single-flight ---------------------------------------------------------------------
  const cold: ColdResult[] = [];
  for (const c of coldCases(env)) {
    progress(`cold burst: ${s.burst} concurrent GET /api/token/${c.provider} on a fresh broker`);
    const fresh = await spawnChild(`broker-cold-${c.provider}`);
    const token = await env.issuer.mint(c.caller, { ttlSec: 3600 });
    const before = c.upstreamTokenRequests();
    const figures = await burst(`${fresh.url}/api/token/${c.provider}`, { authorization: `Bearer ${token}` }, s.burst);
    const upstreamTokenRequests = c.upstreamTokenRequests() - before;
    await stopChild(fresh);
    cold.push({ provider: c.provider, caller: c.caller, upstreamTokenRequests, burst: figures, pass: coldPass(upstreamTokenRequests, figures) });
  }

  // The same burst on a fresh trivial host: what 1000 new connections cost without any broker work.
  progress(`cold burst baseline: ${s.burst} concurrent GET ${TRIVIAL_PATH} on a fresh trivial host`);
  const freshTrivial = await spawnChild("trivial-host-burst", { script: TRIVIAL_HOST_SCRIPT });
  const coldBaseline = await burst(freshTrivial.url + TRIVIAL_PATH, {}, s.burst);
  await stopChild(freshTrivial);
  // The fleet run brings its own sandbox: this one would only sit idle beside it.
  demo = undefined;
  await env.close();

  // ---- (d) fleet: N brokers on one Redis -------------------------------------------------------------
  let fleet: FleetBenchResult;
  if (s.fleetBrokers === 0) {
    fleet = { skipped: "BENCH_FLEET_BROKERS=0" };
  } else {
    fleet = await runFleetBench({
      brokers: s.fleetBrokers,
      tls,
      workDir: join(workDir, "fleet"),
      brokerEnv: { ...brokerEnv, BROKER_CONFIG: undefined },
      load: { connections: s.connections, pipelining: s.pipelining, durationSec: s.durationSec, warmupSec: s.warmupSec, rounds: s.rounds },
      burst: s.burst,
      warmProvider: s.warmProvider,
      warmCaller: s.warmCaller,
      spawn: (name, childEnv, options) => spawnProcess(name, childEnv, options),
      stop: stopChild,
      defer: (fn) => void deferred.push(fn),
      progress,
    });
    if ("skipped" in fleet) progress(`fleet run skipped: ${fleet.skipped}`);
  }

  // ---- private_key_jwt: what signing in the vault adds to a token fetch ------------------------------
  progress("secretless: private_key_jwt token fetches signed with a PEM key, by the loopback vault, and by the vault with a delay");
  const assertions = await runAssertionLatencyChild(withDevCa(process.env, tls));

  // ---- report -------------------------------------------------------------------------------------
  const brokerLabel = `GET /api/token/${s.warmProvider} (cache hit, ${s.warmCaller} JWT)`;
  const out: string[] = [
    "",
    `Token broker benchmark — loopback, node ${process.version}, ${cpus().length} CPU(s), 1-min load average ${loadBefore.toFixed(2)} before the run`,
    `load generator: autocannon in this process, ${s.connections} connections, pipelining ${s.pipelining}, ${s.warmupSec} s warm-up + ${s.durationSec} s per run`,
    `CPU placement: ${cpuPlan.description}`,
    "",
    ...coldStartText,
    "",
    `Runs (interleaved a, a', b, a'', b''${compared ? ", b~" : ""} in each round):`,
    formatRuns(runs),
    "",
    "Cache hits vs the trivial function — two baselines:",
    formatHitComparisons(hits, hitsMatched, brokerLabel),
    formatSameProcessComparison(hitsSameProcess, brokerLabel),
    ...(hitsCompared ? [formatBuildComparison(hitsCompared, s.hitsCompare!)] : []),
    `response bodies: (a) ${bodyBytes.trivial} bytes; (a') ${bodyBytes.trivial_matched} bytes and (b) ${bodyBytes.broker} bytes, both ${brokerOk.contentType}`,
    `request headers: (a) none; (a') and (b) the same Authorization: Bearer <${s.warmCaller} JWT, ${callerToken.length} chars>`,
    "",
    `Cold single-flight (${s.burst} concurrent requests, fresh broker per provider):`,
    formatCold(cold, coldBaseline),
  ];
  if (profiles) {
    out.push(
      "",
      `CPU profiles (node --cpu-prof on the host process, ${s.profileSec} s of the same load after warm-up; files in ${join(".local", "bench", "cpu-profile")}):`,
      formatCpuPerRequest(profiles.trivial, profiles.broker, "(a') trivial function, matched"),
      "",
      `(b) broker, GET /api/token/${s.warmProvider}:`,
      formatProfile(profiles.broker.summary, profiles.broker.figures.total2xx),
      "",
      "(a') trivial function, matched, for reference:",
      formatProfile({ ...profiles.trivial.summary, topSelf: profiles.trivial.summary.topSelf.slice(0, 8), topOwnTotal: [] }, profiles.trivial.figures.total2xx),
    );
  }
  out.push("", `Fleet (${s.fleetBrokers} broker processes on one local redis-server, the sandbox partners):`, formatFleet(fleet));
  out.push("", "Secretless partners (in-process token fetches against a loopback token endpoint):", formatAssertionLatency(assertions));
  out.push("", `Broker logs: ${join(".local", "bench")}/*.log and ${join(".local", "bench", "fleet")}/*.log`, "");
  process.stdout.write(out.join("\n") + "\n");
  const json = {
    bench: "token-broker",
    node: process.version,
    cpus: cpus().length,
    load_average_before: Math.round(loadBefore * 100) / 100,
    settings: s,
    cpu_placement: cpuPlan.description,
    // b/a: against the plain trivial function (kept as the original figure).
    hits: { ...hitJson(hits), body_bytes: bodyBytes, runs },
    // b/a': against the trivial function with the same request headers and response size as (b).
    hits_matched: hitJson(hitsMatched),
    // b''/a'': both routes served by one broker process (same runtime, modules, heap).
    hits_same_process: hitJson(hitsSameProcess),
    // b/b~: this build's token hits against another build's (BENCH_HITS_COMPARE).
    hits_compared_build: hitsCompared && { build: s.hitsCompare, ...hitJson(hitsCompared) },
    cold: cold.map((c) => ({ ...c, burst: { ...c.burst, wallMs: Math.round(c.burst.wallMs) } })),
    cold_baseline_trivial: { ...coldBaseline, wallMs: Math.round(coldBaseline.wallMs) },
    cold_start: coldStart,
    profiles,
    fleet: fleetJson(fleet),
    assertion_latency: assertions,
    elapsed_sec: Math.round((Date.now() - started) / 100) / 10,
  };
  process.stdout.write(JSON.stringify(json) + "\n");
}

async function runAssertionLatencyChild(env: NodeJS.ProcessEnv): Promise<AssertionLatencyResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(HERE, "assertion-latency-main.js")], { env, timeout: 120_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as AssertionLatencyResult;
}

function hitJson(c: HitComparison) {
  return {
    selection: c.selection,
    trivial: c.trivial,
    broker: c.broker,
    req_ratio: round3(c.reqRatio),
    p99_ratio: round3(c.p99Ratio),
    req_ratio_target: ">= 0.9",
    p99_ratio_target: "<= 1.2",
    req_ratio_pass: c.reqPass,
    p99_ratio_pass: c.p99Pass,
    valid: c.valid,
  };
}

function fleetJson(f: FleetBenchResult) {
  if ("skipped" in f) return f;
  return {
    brokers: f.brokers,
    cold: f.cold.map((c) => ({ ...c, burst: { ...c.burst, wallMs: Math.round(c.burst.wallMs) } })),
    hits: {
      selection: f.hits.selection,
      redis_off: f.hits.baseline,
      redis_on: f.hits.subject,
      req_ratio: round3(f.hits.reqRatio),
      p99_ratio: round3(f.hits.p99Ratio),
      req_ratio_target: ">= 0.9",
      req_ratio_pass: f.hitsReqPass,
      valid: f.hits.valid,
      runs: f.hitRuns,
    },
  };
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
  for (const fn of deferred.splice(0).reverse()) await fn().catch(() => undefined);
  const d = demo;
  demo = undefined;
  await d?.close();
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
