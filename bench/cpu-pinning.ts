import { spawnSync } from "node:child_process";

/** Where the benchmark's processes run; undefined fields mean "wherever the scheduler puts them". */
export interface CpuPlan {
  /** CPU list for every server process (brokers, trivial hosts). */
  servers?: string;
  /** CPU list for this process: the load generator. */
  generator?: string;
  /** One line for the report. */
  description: string;
}

/**
 * With two or more CPUs and util-linux's taskset, servers run on the last CPU and the load
 * generator (this process) on the others. Unpinned, the scheduler sometimes puts both on one core
 * and sometimes not, and the same target's req/s then varies by 2x from one run to the next; pinned,
 * each target is measured under the same conditions. `enabled: false` (BENCH_PIN=0) leaves it all to the scheduler.
 */
export function planCpus(cpuCount: number, enabled: boolean): CpuPlan {
  if (!enabled) return { description: "not pinned (BENCH_PIN=0)" };
  if (cpuCount < 2) return { description: "not pinned (one CPU)" };
  if (spawnSync("taskset", ["--version"], { stdio: "ignore" }).status !== 0) return { description: "not pinned (no taskset)" };
  const last = cpuCount - 1;
  const generator = last === 1 ? "0" : `0-${last - 1}`;
  return { servers: String(last), generator, description: `servers on CPU ${last}, load generator on CPU ${generator}` };
}

/** Moves this process and all its threads to the generator CPUs; false if taskset refused. */
export function pinThisProcess(plan: CpuPlan): boolean {
  if (plan.generator === undefined) return true;
  return spawnSync("taskset", ["-a", "-c", "-p", plan.generator, String(process.pid)], { stdio: "ignore" }).status === 0;
}
