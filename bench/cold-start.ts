import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { bundleApp } from "../dev/build/bundle.js";
import type { BrokerProcess, BrokerProcessOptions } from "../dev/host/broker-process.js";
import type { ImportProbeResult } from "./import-probe.js";

/** A function app folder (package.json + the files its `main` globs) and the route that proves it is up. */
export interface ColdApp {
  label: string;
  root: string;
  /** Answers 200 once the app serves (GET). */
  readyPath: string;
  env: Record<string, string | undefined>;
}

export interface ColdStartRound {
  round: number;
  importMs: Record<string, number>;
  /** CPU time of the importing process over the import: the figure other load on the machine inflates least. */
  importCpuMs: Record<string, number>;
  firstHealthMs: Record<string, number>;
  rssMiB: Record<string, number>;
}

export interface FirstRequest {
  /** The app measured (the broker, or the compared build). */
  app: string;
  /** The first request a fresh broker serves after its first health 200: a cold token. */
  firstColdTokenMs: number;
  /** Right after, a cold token of another provider of the same kind: only the upstream's own cost. */
  secondColdTokenMs: number;
}

export interface ColdStartResult {
  rounds: ColdStartRound[];
  /** Median over rounds of (broker ÷ baseline), per baseline label, paired within each round. */
  importRatio: Record<string, number>;
  importCpuRatio: Record<string, number>;
  firstHealthRatio: Record<string, number>;
  median: { importMs: Record<string, number>; importCpuMs: Record<string, number>; firstHealthMs: Record<string, number>; rssMiB: Record<string, number> };
  firstRequest: FirstRequest[];
}

export const TARGET_IMPORT_RATIO = 2;
export const TARGET_FIRST_HEALTH_RATIO = 1.3;

/**
 * The one-function baselines on the same `@azure/functions`: bench/trivial-function.ts bundled by
 * the same build as the broker (the like-for-like baseline the targets use), and the same function
 * as a plain tsc app importing `@azure/functions` from node_modules (the usual quickstart layout).
 */
export async function oneFunctionApps(repoRoot: string, workDir: string): Promise<{ bundled: ColdApp; plain: ColdApp }> {
  const bundledRoot = join(workDir, "one-function-bundled");
  const plainRoot = join(workDir, "one-function-tsc");
  rmSync(bundledRoot, { recursive: true, force: true });
  rmSync(plainRoot, { recursive: true, force: true });
  await bundleApp(repoRoot, { entries: [join(repoRoot, "bench", "trivial-function.ts")], outdir: join(bundledRoot, "dist", "app") });
  writeApp(bundledRoot, "dist/app/functions/*.js");
  mkdirSync(join(plainRoot, "functions"), { recursive: true });
  // The compiled fixture stays where tsc put it (its imports are relative): a one-line entry re-exports it.
  const compiled = pathToFileURL(join(repoRoot, "dist", "bench", "trivial-function.js")).href;
  writeFileSync(join(plainRoot, "functions", "trivial.js"), `export * from ${JSON.stringify(compiled)};\n`);
  writeApp(plainRoot, "functions/*.js");
  const ready = "/api/trivial";
  return {
    bundled: { label: "one function, bundled", root: bundledRoot, readyPath: ready, env: {} },
    plain: { label: "one function, tsc", root: plainRoot, readyPath: ready, env: {} },
  };
}

function writeApp(root: string, main: string): void {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "one-function", private: true, type: "module", main }, null, 2));
}

/** One fresh process doing what the worker does at load; resolves with its figures. */
export function probeImport(probeScript: string, app: ColdApp, baseEnv: Record<string, string | undefined>, nodeArgs: string[] = []): Promise<ImportProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, probeScript, app.root], {
      env: { ...baseEnv, ...app.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.includes('"event":"import_probe"'));
      if (code !== 0 || !line) return reject(new Error(`import probe of ${app.label} failed (${code}):\n${(err || out).slice(-2000)}`));
      const result = JSON.parse(line) as ImportProbeResult;
      if (result.functions === 0) return reject(new Error(`import probe of ${app.label}: no function registered`));
      resolve(result);
    });
  });
}

export type SpawnHost = (name: string, env: Record<string, string | undefined>, options?: BrokerProcessOptions) => Promise<BrokerProcess>;

/**
 * Time from spawning a fresh local host for the app to its first 200 on `readyPath`; the process
 * is returned still running so the caller can measure its first requests.
 */
export async function firstReady(spawnHost: SpawnHost, name: string, app: ColdApp, baseEnv: Record<string, string | undefined>) {
  const started = performance.now();
  const host = await spawnHost(name, { ...baseEnv, ...app.env, LOCAL_HOST_APP_ROOT: app.root });
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(host.url + app.readyPath).catch(() => undefined);
    await res?.arrayBuffer();
    if (res?.status === 200) break;
    if (attempt > 500) throw new Error(`${app.label}: ${app.readyPath} never answered 200`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return { host, ms: performance.now() - started };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median of per-round ratios subject/baseline (paired: both measured in the same round). */
export function medianRatio(rounds: ColdStartRound[], pick: (r: ColdStartRound) => Record<string, number>, subject: string, baseline: string): number {
  return median(rounds.map((r) => pick(r)[subject]! / pick(r)[baseline]!));
}

export function formatColdStart(r: ColdStartResult, subject: string, baselines: string[], targetBaseline: string): string {
  const ms = (n: number | undefined) => (n === undefined ? "-" : `${n.toFixed(0)} ms`);
  const labels = [subject, ...baselines, ...Object.keys(r.median.importMs).filter((l) => l !== subject && !baselines.includes(l))];
  const width = Math.max(...labels.map((l) => l.length));
  const lines = [
    `${"".padEnd(width)}  ${"import".padStart(9)}  ${"import CPU".padStart(10)}  ${"first health".padStart(12)}  ${"RSS".padStart(8)}   (medians of ${r.rounds.length} paired rounds)`,
    ...labels.map(
      (l) =>
        `${l.padEnd(width)}  ${ms(r.median.importMs[l]).padStart(9)}  ${ms(r.median.importCpuMs[l]).padStart(10)}  ${ms(r.median.firstHealthMs[l]).padStart(12)}  ${`${(r.median.rssMiB[l] ?? 0).toFixed(0)} MiB`.padStart(8)}`,
    ),
  ];
  for (const b of baselines) {
    const imp = r.importRatio[b]!;
    const health = r.firstHealthRatio[b]!;
    const judged = b === targetBaseline;
    lines.push(
      `${subject} ÷ ${b}: import ${imp.toFixed(2)}×${judged ? ` (target ≤ ${TARGET_IMPORT_RATIO}×: ${imp <= TARGET_IMPORT_RATIO ? "PASS" : "MISS"})` : ""}, ` +
        `import CPU ${r.importCpuRatio[b]!.toFixed(2)}×, ` +
        `first health ${health.toFixed(2)}×${judged ? ` (target ≤ ${TARGET_FIRST_HEALTH_RATIO}×: ${health <= TARGET_FIRST_HEALTH_RATIO ? "PASS" : "MISS"})` : ""}`,
    );
  }
  for (const app of new Set(r.firstRequest.map((f) => f.app))) {
    const runs = r.firstRequest.filter((f) => f.app === app);
    const first = median(runs.map((f) => f.firstColdTokenMs));
    const second = median(runs.map((f) => f.secondColdTokenMs));
    lines.push(
      `${app}, first request after start-up (cold token of an Entra provider, sandbox authority): ${ms(first)}; ` +
        `then another Entra provider's cold token: ${ms(second)} (the difference is paid once: code loaded on first use, the callers' JWKS, first-run code)`,
    );
  }
  return lines.join("\n");
}
