import type { BurstFigures } from "./cold-burst.js";
import type { ProfileSummary } from "./cpu-profile.js";
import type { LoadFigures } from "./load.js";

export interface ProfiledRun {
  /** The .cpuprofile, relative to the repository. */
  file: string;
  /** The load applied while profiling (profiling slows the process: not comparable to the runs). */
  figures: LoadFigures;
  summary: ProfileSummary;
  /** Busy CPU of the host process in the window ÷ requests served in it. */
  cpuUsPerRequest: number;
}

export const TARGET_REQ_RATIO = 0.9;
export const TARGET_P99_RATIO = 1.2;

export interface HitComparison {
  /** How the reported figures were chosen from the rounds. */
  selection: string;
  trivial: LoadFigures;
  broker: LoadFigures;
  /** broker req/s ÷ trivial req/s (target >= 0.9). */
  reqRatio: number;
  /** broker p99 ÷ trivial p99 (target <= 1.2). */
  p99Ratio: number;
  reqPass: boolean;
  p99Pass: boolean;
  /** False when a run saw errors or non-2xx answers: its rate would not be a rate of successes. */
  valid: boolean;
}

export interface ColdResult {
  provider: string;
  caller: string;
  upstreamTokenRequests: number;
  burst: BurstFigures;
  /** Exactly one upstream request and every caller served. */
  pass: boolean;
}

/**
 * Best of the rounds per target: the run with the highest req/s, reported with that same run's
 * latencies (never a best rate mixed with another run's best p99).
 */
export function compareHits(trivialRuns: LoadFigures[], brokerRuns: LoadFigures[]): HitComparison {
  const best = (runs: LoadFigures[]) => runs.reduce((a, b) => (b.reqPerSec > a.reqPerSec ? b : a));
  const trivial = best(trivialRuns);
  const broker = best(brokerRuns);
  const clean = (r: LoadFigures) => r.errors === 0 && r.non2xx === 0 && r.timeouts === 0 && r.total2xx > 0;
  const valid = [...trivialRuns, ...brokerRuns].every(clean);
  const reqRatio = trivial.reqPerSec > 0 ? broker.reqPerSec / trivial.reqPerSec : 0;
  // autocannon latencies are whole ms: a 0 ms p99 on the baseline is treated as 1 ms.
  const p99Ratio = broker.p99Ms / Math.max(trivial.p99Ms, 1);
  return {
    selection: `best of ${trivialRuns.length} interleaved rounds (the run with the highest req/s, with its own latencies)`,
    trivial,
    broker,
    reqRatio,
    p99Ratio,
    reqPass: valid && reqRatio >= TARGET_REQ_RATIO,
    p99Pass: valid && p99Ratio <= TARGET_P99_RATIO,
    valid,
  };
}

export function coldPass(upstreamTokenRequests: number, burst: BurstFigures): boolean {
  return upstreamTokenRequests === 1 && burst.ok === burst.requests;
}

const verdict = (pass: boolean) => (pass ? "PASS" : "FAIL");
const fixed = (n: number, digits = 0) => n.toFixed(digits);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")).join("\n");
}

export function formatRuns(runs: { label: string; round: number; figures: LoadFigures }[]): string {
  const rows = [["run", "round", "req/s", "p50 ms", "p99 ms", "mean ms", "2xx", "non-2xx", "errors", "server CPU µs/req"]];
  for (const { label, round, figures: f } of runs) {
    rows.push([
      label,
      String(round),
      fixed(f.reqPerSec),
      fixed(f.p50Ms),
      fixed(f.p99Ms),
      fixed(f.meanMs, 2),
      String(f.total2xx),
      String(f.non2xx),
      String(f.errors + f.timeouts),
      f.serverCpuUsPerRequest === undefined ? "n/a" : fixed(f.serverCpuUsPerRequest, 1),
    ]);
  }
  return table(rows);
}

export function formatComparison(c: HitComparison, brokerLabel: string): string {
  const cpu = (f: LoadFigures) => (f.serverCpuUsPerRequest === undefined ? "n/a" : fixed(f.serverCpuUsPerRequest, 1));
  const rows = [
    ["", "req/s", "p50 ms", "p99 ms", "server CPU µs/req"],
    ["(a) trivial function", fixed(c.trivial.reqPerSec), fixed(c.trivial.p50Ms), fixed(c.trivial.p99Ms), cpu(c.trivial)],
    [`(b) ${brokerLabel}`, fixed(c.broker.reqPerSec), fixed(c.broker.p50Ms), fixed(c.broker.p99Ms), cpu(c.broker)],
  ];
  return [
    table(rows),
    `figures: ${c.selection}`,
    `req/s ratio b/a = ${fixed(c.reqRatio, 3)}   target >= ${TARGET_REQ_RATIO}   ${verdict(c.reqPass)}`,
    `p99 ratio   b/a = ${fixed(c.p99Ratio, 3)}   target <= ${TARGET_P99_RATIO}   ${verdict(c.p99Pass)}`,
    ...(c.valid ? [] : ["INVALID: a run saw errors, timeouts or non-2xx answers (see the runs table); targets marked FAIL"]),
  ].join("\n");
}

export function formatCold(results: ColdResult[], baseline: BurstFigures): string {
  const other = (b: BurstFigures) =>
    Object.entries(b.statuses)
      .filter(([status]) => status !== "200")
      .map(([status, n]) => `${status}:${n}`)
      .join(",") || "-";
  const rows = [["provider (caller)", "upstream token requests", "200s", "other", "wall ms", "single-flight"]];
  for (const r of results) {
    rows.push([`${r.provider} (${r.caller})`, String(r.upstreamTokenRequests), `${r.burst.ok}/${r.burst.requests}`, other(r.burst), fixed(r.burst.wallMs), verdict(r.pass)]);
  }
  rows.push(["reference: trivial function", "-", `${baseline.ok}/${baseline.requests}`, other(baseline), fixed(baseline.wallMs), "-"]);
  return [table(rows), "(wall time includes opening one new connection per request; the reference row is that cost alone)"].join("\n");
}

/** Top frames of one profile; with the requests served in its window, also µs per request. */
export function formatProfile(p: ProfileSummary, requests: number): string {
  const perRequest = (ms: number) => (requests > 0 ? fixed((ms * 1000) / requests, 1) : "n/a");
  const rows = (entries: ProfileSummary["topSelf"]) =>
    table([["frame", "ms", "% busy", "µs/req"], ...entries.map((e) => [e.frame, fixed(e.ms), fixed(e.pct, 1), perRequest(e.ms)])]);
  return [
    "top self time (innermost frame):",
    rows(p.topSelf),
    ...(p.topOwnTotal.length > 0
      ? ["top inclusive time in our own code (shared/, functions/, dev/host/; lines of the compiled dist/*.js):", rows(p.topOwnTotal)]
      : []),
  ].join("\n");
}

export function formatCpuPerRequest(trivial: ProfiledRun, broker: ProfiledRun): string {
  const rows = [
    ["", "req/s (profiled)", "busy ms", "idle ms", "CPU µs/request"],
    ["(a) trivial function", fixed(trivial.figures.reqPerSec), fixed(trivial.summary.busyMs), fixed(trivial.summary.idleMs), fixed(trivial.cpuUsPerRequest, 1)],
    ["(b) broker token hit", fixed(broker.figures.reqPerSec), fixed(broker.summary.busyMs), fixed(broker.summary.idleMs), fixed(broker.cpuUsPerRequest, 1)],
  ];
  const extra = broker.cpuUsPerRequest - trivial.cpuUsPerRequest;
  return [table(rows), `the broker spends ${fixed(extra, 1)} µs of CPU per request more than the trivial function`].join("\n");
}
