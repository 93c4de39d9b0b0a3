import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { hasTaskset, planCpus } from "../../bench/cpu-pinning.js";
import { TRIVIAL_MATCHED_FUNCTION_MODULE } from "../../bench/trivial-host.js";
import { spawnBrokerProcess } from "../../dev/host/broker-process.js";

const tasksetMissing = !hasTaskset() && "no taskset on this machine";

test("without pinning, or with one CPU, every process is left to the scheduler", () => {
  assert.deepEqual(planCpus(8, false), { description: "not pinned (BENCH_PIN=0)" });
  assert.deepEqual(planCpus(1, true), { description: "not pinned (one CPU)" });
});

test("servers get the last CPU and the load generator the others", { skip: tasksetMissing }, () => {
  assert.deepEqual(planCpus(2, true), { servers: "1", generator: "0", description: "servers on CPU 1, load generator on CPU 0" });
  assert.deepEqual(planCpus(4, true), { servers: "3", generator: "0-2", description: "servers on CPU 3, load generator on CPU 0-2" });
});

test("a server spawned with a CPU list runs, all threads, on those CPUs only", { skip: tasksetMissing }, async () => {
  const script = join(TRIVIAL_MATCHED_FUNCTION_MODULE, "..", "trivial-host.js");
  const child = await spawnBrokerProcess({}, { script, cpus: "0", logFile: join(tmpdir(), `pinned-host-${process.pid}.log`) });
  try {
    const allowed = readFileSync(`/proc/${child.pid}/status`, "utf8").match(/^Cpus_allowed_list:\s*(\S+)$/m)?.[1];
    assert.equal(allowed, "0");
    assert.equal((await fetch(child.url + "/api/trivial")).status, 200, "the pinned process is the host itself (taskset exec'd it)");
  } finally {
    await child.stop();
  }
});
