import { readFileSync } from "node:fs";

/** Linux reports process CPU time in clock ticks of USER_HZ, which is 100 on every mainstream kernel. */
const USER_HZ = 100;

/**
 * CPU time (user + system, ms, 10 ms resolution) a process has used so far, read from
 * /proc/<pid>/stat; undefined where there is no /proc (macOS, Windows) or the process is gone.
 * Reading it does not disturb the process, unlike a profiler.
 */
export function processCpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1000) / USER_HZ;
}
