import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalHost, type LocalHost } from "./local-host.js";

/** Modules in functions/ that register no trigger: the composition root's entry and the real clock. */
const NOT_FUNCTIONS = new Set(["runtime.js", "system.js"]);

/** The compiled function files (dist/functions/*.js), as Azure's `main` glob finds them. */
export function functionModules(): string[] {
  const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "functions");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".js") && !NOT_FUNCTIONS.has(f))
    .map((f) => join(dir, f));
}

/** Serves the broker's functions on the local host; configuration comes from the environment. */
export async function serveFunctions(port: number, log: (line: string) => void, extraModules: string[] = []): Promise<LocalHost> {
  return startLocalHost({ modules: [...functionModules(), ...extraModules], port, log });
}

// As a script (`node dist/dev/host/serve-functions.js`): one broker process, used by the fleet
// test and the benchmark. Prints one JSON line with its URL once it listens.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Benchmark only: extra function modules served next to the broker's own, in the same process.
  const extra = (process.env.LOCAL_HOST_EXTRA_MODULES ?? "").split(",").filter(Boolean);
  const host = await serveFunctions(Number(process.env.PORT ?? 0), (line) => process.stdout.write(line + "\n"), extra);
  process.stdout.write(JSON.stringify({ event: "host_listening", url: host.url, pid: process.pid }) + "\n");
  const stop = () => host.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
