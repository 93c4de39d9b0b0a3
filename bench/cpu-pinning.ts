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
 * generator (this process) on the others (BENCH_PIN=1), so the generator never takes a server's
 * core. Off by default: on the 2-vCPU development VM it did not narrow the run-to-run spread, and
 * it lengthened latency tails, since V8's helper threads then share the server's one core.
 */
export function planCpus(cpuCount: number, enabled: boolean): CpuPlan {
  if (!enabled) return { description: "not pinned (BENCH_PIN=0)" };
  if (cpuCount < 2) return { description: "not pinned (one CPU)" };
  if (!hasTaskset()) return { description: "not pinned (no taskset)" };
  const last = cpuCount - 1;
  const generator = last === 1 ? "0" : `0-${last - 1}`;
  return { servers: String(last), generator, description: `servers on CPU ${last}, load generator on CPU ${generator}` };
}

/** util-linux's taskset is on the PATH and runs. */
export function hasTaskset(): boolean {
  return spawnSync("taskset", ["--version"], { stdio: "ignore" }).status === 0;
}

/** Moves this process and all its threads to the generator CPUs; false if taskset refused. */
export function pinThisProcess(plan: CpuPlan): boolean {
  if (plan.generator === undefined) return true;
  return spawnSync("taskset", ["-a", "-c", "-p", plan.generator, String(process.pid)], { stdio: "ignore" }).status === 0;
}
