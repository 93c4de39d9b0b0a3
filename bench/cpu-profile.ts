import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/** The parts of V8's .cpuprofile (written by `node --cpu-prof`) the summary reads. */
const CpuProfileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number(), columnNumber: z.number() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});

export interface SummaryOptions {
  /** Ignore the first ms of the profile (process start-up, module loading, warm-up). */
  skipFirstMs?: number;
  /** Summarise at most this many ms after the skipped part (drops the shutdown). */
  maxWindowMs?: number;
  /** Entries per list. Default 15. */
  top?: number;
}

export interface ProfileEntry {
  /** "functionName file:line" (file relative to the repository when it is ours). */
  frame: string;
  ms: number;
  /** Share of the busy (non-idle) time, in percent. */
  pct: number;
}

export interface ProfileSummary {
  /** Length of the summarised window. */
  windowMs: number;
  busyMs: number;
  idleMs: number;
  /** Where the CPU was, innermost frame only (self time), biggest first. */
  topSelf: ProfileEntry[];
  /** Time spent in or below our own functions (shared/, functions/, dev/host/), biggest first. */
  topOwnTotal: ProfileEntry[];
}

const IDLE = new Set(["(idle)"]);

/**
 * Reduces a V8 CPU profile to the top self-time frames and the inclusive time of the project's
 * own functions, so the lead sees where a request's time goes without opening DevTools.
 */
export function summarizeCpuProfile(file: string, repoRoot: string, options: SummaryOptions = {}): ProfileSummary {
  const top = options.top ?? 15;
  const skipUs = (options.skipFirstMs ?? 0) * 1000;
  const endUs = options.maxWindowMs !== undefined ? skipUs + options.maxWindowMs * 1000 : Infinity;
  const profile = CpuProfileSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = new Map<number, string>();
  for (const n of profile.nodes) label.set(n.id, frameLabel(n.callFrame, repoRoot));

  const self = new Map<string, number>();
  const ownTotal = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  let elapsedUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    elapsedUs += profile.timeDeltas[i] ?? 0;
    if (elapsedUs < skipUs) continue;
    if (elapsedUs > endUs) break;
    // V8 records the delta *before* sample i; the next delta is the time this sample stood for.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(id);
    if (!node) continue;
    if (IDLE.has(node.callFrame.functionName)) {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const name = label.get(id)!;
    self.set(name, (self.get(name) ?? 0) + us);
    // Inclusive time: each of our frames on the stack once (recursion must not count twice).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at)!;
      if (!isOwn(n.callFrame.url)) continue;
      const l = label.get(at)!;
      if (seen.has(l)) continue;
      seen.add(l);
      ownTotal.set(l, (ownTotal.get(l) ?? 0) + us);
    }
  }
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, ms: round(us / 1000), pct: busyUs > 0 ? round((100 * us) / busyUs) : 0 }));
  return { windowMs: round((busyUs + idleUs) / 1000), busyMs: round(busyUs / 1000), idleMs: round(idleUs / 1000), topSelf: rank(self), topOwnTotal: rank(ownTotal) };
}

function isOwn(url: string): boolean {
  return /\/dist\/(shared|functions|dev\/host)\//.test(url);
}

function frameLabel(frame: { functionName: string; url: string; lineNumber: number }, repoRoot: string): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  let file = frame.url;
  if (file.startsWith("file://")) {
    const path = fileURLToPath(file);
    const rel = relative(repoRoot, path);
    file = rel.startsWith("..") ? path : rel;
  }
  // V8 line numbers are 0-based; these are lines of the compiled dist/*.js files.
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
