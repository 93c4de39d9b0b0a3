import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalHost } from "../dev/host/local-host.js";

/** The compiled fixture module the trivial host serves (GET /api/trivial). */
export const TRIVIAL_FUNCTION_MODULE = join(dirname(fileURLToPath(import.meta.url)), "trivial-function.js");

/** The matched baseline (a'), registered only when the host gets its BENCH_MATCHED_* settings. */
export const TRIVIAL_MATCHED_FUNCTION_MODULE = join(dirname(fileURLToPath(import.meta.url)), "trivial-matched-function.js");

/** The route the trivial host answers, relative to its URL. */
export const TRIVIAL_PATH = "/api/trivial";

/** The matched baseline's route (a'), relative to the host's URL. */
export const TRIVIAL_MATCHED_PATH = "/api/trivial/matched";

// As a script (`node dist/bench/trivial-host.js`): the local Functions host with only the trivial
// functions, in its own process like a broker. Prints the same `host_listening` JSON line as
// dev/host/serve-functions.ts so spawnBrokerProcess can start and stop it.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const host = await startLocalHost({
    modules: [TRIVIAL_FUNCTION_MODULE, TRIVIAL_MATCHED_FUNCTION_MODULE],
    port: Number(process.env.PORT ?? 0),
    log: (line) => process.stdout.write(line + "\n"),
  });
  process.stdout.write(JSON.stringify({ event: "host_listening", url: host.url, pid: process.pid }) + "\n");
  const stop = () => host.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
