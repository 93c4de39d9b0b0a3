import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { appModules } from "../dev/host/app-modules.js";
import { installFunctionsCore } from "../dev/host/functions-core.js";

/** What one probe process prints (one JSON line). */
export interface ImportProbeResult {
  event: "import_probe";
  /** From the first `import()` of a main-glob file to the last one settling. */
  importMs: number;
  /** CPU time (user + system) of the process over the same span: what other load on the machine inflates least. */
  importCpuMs: number;
  /** From process start (performance.timeOrigin) to the registrations being done. */
  sinceStartMs: number;
  functions: number;
  /** Names of the registered functions. */
  names: string[];
  /** Files of the main glob that registered nothing (the worker loads and ignores them). */
  withoutFunctions: string[];
  rssMiB: number;
}

// As a script (`node dist/bench/import-probe.js <app folder>`): what the Node.js worker does when it
// loads an app: make `@azure/functions-core` present, then `import()` every file of the package.json
// `main` glob in order, until the registrations are done. Nothing is served.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const appRoot = process.argv[2];
  if (!appRoot) throw new Error("usage: import-probe.js <function app folder>");
  const registry = installFunctionsCore();
  const modules = await appModules(appRoot);
  // IMPORT_PROBE_PROFILE=<file>: a V8 CPU profile of the import alone (not of the probe's own start-up).
  const profileFile = process.env.IMPORT_PROBE_PROFILE;
  const session = profileFile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
  }
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const loaded = await registry.load(modules);
  const cpu = process.cpuUsage(cpuBefore);
  const done = performance.now();
  if (session && profileFile) {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(profileFile, JSON.stringify(profile));
  }
  const result: ImportProbeResult = {
    event: "import_probe",
    importMs: done - started,
    importCpuMs: (cpu.user + cpu.system) / 1000,
    sinceStartMs: done,
    functions: loaded.functions.length,
    names: loaded.functions.map((f) => f.name),
    withoutFunctions: loaded.withoutFunctions,
    rssMiB: process.memoryUsage.rss() / 1024 / 1024,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
  // A composed broker keeps no handle open, but a probe must never linger.
  process.exit(0);
}
