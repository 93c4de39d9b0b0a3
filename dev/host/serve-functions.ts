import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { appModules } from "./app-modules.js";
import { startLocalHost, type LocalHost } from "./local-host.js";

/**
 * The deployable function app (dist/package, built by `npm run build`): the local host serves the
 * very files that ship, found through their package.json `main` as the worker finds them.
 */
export const DEPLOYABLE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "package");

/** The function files of the app in `appRoot` (default: the deployable), as Azure's `main` glob finds them. */
export function functionModules(appRoot = DEPLOYABLE_ROOT): Promise<string[]> {
  return appModules(appRoot);
}

/** Serves the broker's functions on the local host; configuration comes from the environment. */
export async function serveFunctions(
  port: number,
  log: (line: string) => void,
  extraModules: string[] = [],
  appRoot = DEPLOYABLE_ROOT,
): Promise<LocalHost> {
  return startLocalHost({ modules: [...(await functionModules(appRoot)), ...extraModules], port, log });
}

// As a script (`node dist/dev/host/serve-functions.js`): one broker process, used by the fleet
// test and the benchmark. Prints one JSON line with its URL once it listens.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // Benchmark only: extra function modules served next to the broker's own, in the same process.
  const extra = (process.env.LOCAL_HOST_EXTRA_MODULES ?? "").split(",").filter(Boolean);
  // Benchmark only: another function app folder (the one-function baseline) served the same way.
  const appRoot = process.env.LOCAL_HOST_APP_ROOT || DEPLOYABLE_ROOT;
  const host = await serveFunctions(Number(process.env.PORT ?? 0), (line) => process.stdout.write(line + "\n"), extra, appRoot);
  process.stdout.write(JSON.stringify({ event: "host_listening", url: host.url, pid: process.pid }) + "\n");
  const stop = () => host.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
