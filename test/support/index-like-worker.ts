import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { installFunctionsCore } from "../../dev/host/functions-core.js";
import { indexedFunctions } from "../../dev/host/worker-indexing.js";

/**
 * Run as a script from the repository root: imports the app's entry files the way the Node.js
 * worker does (every file matched by package.json `main`, in order, with `import()`, registrations
 * going to `@azure/functions-core`, stopping at the first that throws) and prints one JSON line:
 * `{"registered":[...],"error":"..."|null}`. A process of its own: runtime.js composes once per
 * process, from that process's environment.
 */
export function entryPointFiles(root = "."): string[] {
  const main = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { main: string }).main;
  const dir = dirname(main);
  const pattern = basename(main);
  // The one glob shape this repository uses: a directory and `*` in the file name.
  if (dir.includes("*") || pattern.split("*").length !== 2) throw new Error(`unsupported main glob "${main}"`);
  const [head = "", tail = ""] = pattern.split("*");
  return readdirSync(join(root, dir))
    .filter((f) => f.startsWith(head) && f.endsWith(tail) && f.length >= head.length + tail.length)
    .sort()
    .map((f) => resolve(root, dir, f));
}

const registry = installFunctionsCore();
const loaded = await registry.load(entryPointFiles());
let error: string | null = null;
try {
  indexedFunctions(loaded);
} catch (e) {
  error = (e as Error).message;
}
process.stdout.write(JSON.stringify({ registered: loaded.functions.map((f) => f.name), error }) + "\n");
