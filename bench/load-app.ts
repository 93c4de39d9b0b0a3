import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Child of bench/cold-start.ts: imports every function file of the app in `argv[2]` (its
 * dist/functions/*.js, as the Functions worker does) and prints how long that took and the heap.
 * `sinceStartMs` counts from process start, Node's own bootstrap included. The result line is
 * marked: the broker's own log lines may follow it on stdout.
 */
const root = resolve(process.argv[2] ?? ".", "dist");
const dir = join(root, "functions");
const started = performance.now();
// The local host's stand-in for the worker's @azure/functions-core: functions register as in Azure.
const core = (await import(pathToFileURL(join(root, "dev", "host", "functions-core.js")).href)) as {
  installFunctionsCore(): { load(modules: string[]): Promise<unknown> };
};
const files = readdirSync(dir).filter((f) => f.endsWith(".js")).sort();
await core.installFunctionsCore().load(files.map((f) => join(dir, f)));
const loaded = performance.now();
// Heap after a full collection (the parent passes --expose-gc): garbage left by loading is noise.
(globalThis as { gc?: () => void }).gc?.();
process.stdout.write(`${JSON.stringify({ coldStart: true, loadMs: loaded - started, sinceStartMs: loaded, heapMB: process.memoryUsage().heapUsed / 2 ** 20 })}\n`);
process.exit(0);
