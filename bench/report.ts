import type { BurstFigures } from "./cold-burst.js";
import type { ProfileSummary } from "./cpu-profile.js";
import type { FleetBenchResult } from "./fleet.js";
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

/** One target against a baseline, each the best of its interleaved rounds. */
export interface BestComparison {
  selection: string;
  baseline: LoadFigures;
  subject: LoadFigures;
  /** subject req/s ÷ baseline req/s. */
  reqRatio: number;
  /** subject p99 ÷ baseline p99. */
  p99Ratio: number;
  /** False when a run saw errors or non-2xx answers: its rate would not be a rate of successes. */
  valid: boolean;
}

/**
 * Best of the rounds per target: the run with the highest req/s, reported with that same run's
 * latencies (never a best rate mixed with another run's best p99).
 */
export function compareBest(baselineRuns: LoadFigures[], subjectRuns: LoadFigures[]): BestComparison {
  const best = (runs: LoadFigures[]) => runs.reduce((a, b) => (b.reqPerSec > a.reqPerSec ? b : a));
  const baseline = best(baselineRuns);
  const subject = best(subjectRuns);
  const clean = (r: LoadFigures) => r.errors === 0 && r.non2xx === 0 && r.timeouts === 0 && r.total2xx > 0;
  return {
    selection: `best of ${baselineRuns.length} interleaved rounds (the run with the highest req/s, with its own latencies)`,
    baseline,
    subject,
    reqRatio: baseline.reqPerSec > 0 ? subject.reqPerSec / baseline.reqPerSec : 0,
    // autocannon latencies are whole ms: a 0 ms p99 on the baseline is treated as 1 ms.
    p99Ratio: subject.p99Ms / Math.max(baseline.p99Ms, 1),
    valid: [...baselineRuns, ...subjectRuns].every(clean),
  };
}

/** The broker's cache hits (b) against one trivial baseline, with the acceptance verdicts. */
export function compareHits(trivialRuns: LoadFigures[], brokerRuns: LoadFigures[]): HitComparison {
  const c = compareBest(trivialRuns, brokerRuns);
  return {
    selection: c.selection,
    trivial: c.baseline,
    broker: c.subject,
    reqRatio: c.reqRatio,
    p99Ratio: c.p99Ratio,
    reqPass: c.valid && c.reqRatio >= TARGET_REQ_RATIO,
    p99Pass: c.valid && c.p99Ratio <= TARGET_P99_RATIO,
    valid: c.valid,
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
  const rows = [["run", "round", "req/s", "p50 ms", "p99 ms", "mean ms", "2xx", "non-2xx", "errors", "bytes/resp", "server CPU µs/req"]];
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
      String(f.bytesPerResponse),
      f.serverCpuUsPerRequest === undefined ? "n/a" : fixed(f.serverCpuUsPerRequest, 1),
    ]);
  }
  return table(rows);
}

const cpuCell = (f: LoadFigures) => (f.serverCpuUsPerRequest === undefined ? "n/a" : fixed(f.serverCpuUsPerRequest, 1));

/**
 * (b) against both baselines: (a) the plain trivial function (no Authorization header, a tiny body)
 * and (a') the matched one (the same request headers and a body as large as (b)'s). Verdicts for
 * both, so neither can hide the other.
 */
export function formatHitComparisons(plain: HitComparison, matched: HitComparison, brokerLabel: string): string {
  const rows = [
    ["", "req/s", "p50 ms", "p99 ms", "bytes/resp", "server CPU µs/req"],
    ["(a)  trivial function (no Authorization, small body)", fixed(plain.trivial.reqPerSec), fixed(plain.trivial.p50Ms), fixed(plain.trivial.p99Ms), String(plain.trivial.bytesPerResponse), cpuCell(plain.trivial)],
    ["(a') trivial function, matched (same headers and body size as b)", fixed(matched.trivial.reqPerSec), fixed(matched.trivial.p50Ms), fixed(matched.trivial.p99Ms), String(matched.trivial.bytesPerResponse), cpuCell(matched.trivial)],
    [`(b)  ${brokerLabel}`, fixed(plain.broker.reqPerSec), fixed(plain.broker.p50Ms), fixed(plain.broker.p99Ms), String(plain.broker.bytesPerResponse), cpuCell(plain.broker)],
  ];
  const verdicts = (name: string, c: HitComparison) => [
    `req/s ratio ${name} = ${fixed(c.reqRatio, 3)}   target >= ${TARGET_REQ_RATIO}   ${verdict(c.reqPass)}`,
    `p99 ratio   ${name} = ${fixed(c.p99Ratio, 3)}   target <= ${TARGET_P99_RATIO}   ${verdict(c.p99Pass)}`,
  ];
  return [
    table(rows),
    `figures: ${plain.selection}; bytes/resp includes status line and headers`,
    "against the plain baseline (a):",
    ...verdicts("b/a ", plain),
    "against the matched baseline (a'):",
    ...verdicts("b/a'", matched),
    ...(plain.valid && matched.valid ? [] : ["INVALID: a run saw errors, timeouts or non-2xx answers (see the runs table); targets marked FAIL"]),
  ].join("\n");
}

/** (a'') vs (b''): one broker process serving both the matched trivial function and token hits. */
export function formatSameProcessComparison(same: HitComparison, brokerLabel: string): string {
  const rows = [
    ["", "req/s", "p50 ms", "p99 ms", "bytes/resp", "server CPU µs/req"],
    ["(a'') trivial function, matched, served by the broker's own process", fixed(same.trivial.reqPerSec), fixed(same.trivial.p50Ms), fixed(same.trivial.p99Ms), String(same.trivial.bytesPerResponse), cpuCell(same.trivial)],
    [`(b'') ${brokerLabel}, same process`, fixed(same.broker.reqPerSec), fixed(same.broker.p50Ms), fixed(same.broker.p99Ms), String(same.broker.bytesPerResponse), cpuCell(same.broker)],
  ];
  return [
    "",
    "Same process (the broker's per-request work alone: one runtime, one heap, both routes):",
    table(rows),
    `req/s ratio b''/a'' = ${fixed(same.reqRatio, 3)}   target >= ${TARGET_REQ_RATIO}   ${verdict(same.reqPass)}`,
    `p99 ratio   b''/a'' = ${fixed(same.p99Ratio, 3)}   target <= ${TARGET_P99_RATIO}   ${verdict(same.p99Pass)}`,
    ...(same.valid ? [] : ["INVALID: a run saw errors, timeouts or non-2xx answers; targets marked FAIL"]),
  ].join("\n");
}

/** (b~) vs (b): the same token hits served by another build (BENCH_HITS_COMPARE) and by this one. */
export function formatBuildComparison(c: HitComparison, build: string): string {
  const rows = [
    ["", "req/s", "p50 ms", "p99 ms", "bytes/resp", "server CPU µs/req"],
    [`(b~) compared build, ${build}`, fixed(c.trivial.reqPerSec), fixed(c.trivial.p50Ms), fixed(c.trivial.p99Ms), String(c.trivial.bytesPerResponse), cpuCell(c.trivial)],
    ["(b)  this build", fixed(c.broker.reqPerSec), fixed(c.broker.p50Ms), fixed(c.broker.p99Ms), String(c.broker.bytesPerResponse), cpuCell(c.broker)],
  ];
  return [
    "",
    "This build against the compared one (same hits, interleaved in every round):",
    table(rows),
    `req/s ratio b/b~ = ${fixed(c.reqRatio, 3)}   p99 ratio b/b~ = ${fixed(c.p99Ratio, 3)}   (informational)`,
    ...(c.valid ? [] : ["INVALID: a run saw errors, timeouts or non-2xx answers"]),
  ].join("\n");
}

/** Non-200 outcomes of a burst, e.g. "503:3,network_error:1", or "-". */
function other(b: BurstFigures): string {
  return (
    Object.entries(b.statuses)
      .filter(([status]) => status !== "200")
      .map(([status, n]) => `${status}:${n}`)
      .join(",") || "-"
  );
}

export function formatCold(results: ColdResult[], baseline: BurstFigures): string {
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

export function formatCpuPerRequest(trivial: ProfiledRun, broker: ProfiledRun, trivialLabel: string): string {
  const rows = [
    ["", "req/s (profiled)", "busy ms", "idle ms", "CPU µs/request"],
    [trivialLabel, fixed(trivial.figures.reqPerSec), fixed(trivial.summary.busyMs), fixed(trivial.summary.idleMs), fixed(trivial.cpuUsPerRequest, 1)],
    ["(b) broker token hit", fixed(broker.figures.reqPerSec), fixed(broker.summary.busyMs), fixed(broker.summary.idleMs), fixed(broker.cpuUsPerRequest, 1)],
  ];
  const extra = broker.cpuUsPerRequest - trivial.cpuUsPerRequest;
  return [table(rows), `the broker spends ${fixed(extra, 1)} µs of CPU per request more than the ${trivialLabel}`].join("\n");
}

/** The fleet run: cold bursts spread over N instances on one Redis, then hits with Redis on vs off. */
export function formatFleet(f: FleetBenchResult): string {
  if ("skipped" in f) return `skipped: ${f.skipped}`;
  const cold = [["provider (caller)", "upstream token requests", "200s", "other", "wall ms", "fleet single-flight"]];
  for (const r of f.cold) {
    cold.push([`${r.provider} (${r.caller})`, String(r.upstreamTokenRequests), `${r.burst.ok}/${r.burst.requests}`, other(r.burst), fixed(r.burst.wallMs), verdict(r.pass)]);
  }
  const h = f.hits;
  const hits = [
    ["", "req/s", "p50 ms", "p99 ms", "bytes/resp", "server CPU µs/req"],
    ["Redis OFF: one broker, no REDIS_URL", fixed(h.baseline.reqPerSec), fixed(h.baseline.p50Ms), fixed(h.baseline.p99Ms), String(h.baseline.bytesPerResponse), cpuCell(h.baseline)],
    [`Redis ON: instance 1 of ${f.brokers}`, fixed(h.subject.reqPerSec), fixed(h.subject.p50Ms), fixed(h.subject.p99Ms), String(h.subject.bytesPerResponse), cpuCell(h.subject)],
  ];
  return [
    `(i) cold burst: ${f.cold[0]?.burst.requests ?? 0} concurrent requests per provider, round-robin over the ${f.brokers} instances (expect 1 upstream token request fleet-wide):`,
    table(cold),
    "",
    `(ii) cache hits on one instance, Redis ON vs OFF (same load as (b); runs interleaved on,off,...):`,
    formatRuns(f.hitRuns),
    "",
    table(hits),
    `figures: ${h.selection}`,
    `req/s ratio ON/OFF = ${fixed(h.reqRatio, 3)}   target >= ${TARGET_REQ_RATIO}   ${verdict(f.hitsReqPass)}`,
    `p99 ratio   ON/OFF = ${fixed(h.p99Ratio, 3)}   (no target; for information)`,
    ...(h.valid ? [] : ["INVALID: a run saw errors, timeouts or non-2xx answers (see the runs table); target marked FAIL"]),
  ].join("\n");
}
