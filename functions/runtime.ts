import { readFileSync } from "node:fs";
import { app } from "@azure/functions";
import { composeBroker, type Broker } from "../shared/compose.js";
import { maintenanceScheduleSetting } from "../shared/config/env.js";
import { BatchedSink } from "../shared/log/batched-sink.js";
import { systemClock, systemSleeper } from "./system.js";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { findAppRoot } from "../shared/config/source.js";

/**
 * The composition root's entry: the only place that hands the process environment, the real
 * clock and the global fetch to the broker. Every function file shares this one instance.
 *
 * Composition starts when this module is imported but is never awaited here: a function file
 * registers its functions first and only then awaits `ready` at its top level. The Node.js worker
 * counts worker indexing as used only once a function has registered; an entry file that throws
 * before that yields "0 functions", and the host then serves an empty app (every route 404) with
 * the error only on stderr. Registered first, a bad configuration fails the worker's indexing
 * instead, with every bad field in the error the host shows.
 */
const logs = new BatchedSink(
  (chunk) => process.stdout.write(chunk),
  // unref: a pending batch never keeps the process alive; the exit hook below writes it.
  (callback, delayMs) => setTimeout(callback, delayMs).unref(),
);

/**
 * The composed broker: a live binding, assigned when `ready` resolves. Handlers read it at call
 * time; the host calls them only after every entry file, each awaiting `ready`, has loaded.
 * Unassigned only if composition failed (see health.ts).
 */
export let broker!: Broker;

/** Resolves once `broker` is assigned; rejects with the composition error (every bad field named). */
export const ready: Promise<void> = composeBroker({
  env: process.env,
  // Where this module was deployed, not the worker's working directory.
  appRoot: findAppRoot(dirname(fileURLToPath(import.meta.url))),
  clock: systemClock,
  sleeper: systemSleeper,
  random: Math.random,
  fetch: globalThis.fetch.bind(globalThis),
  sink: logs.sink,
  version: appVersion(),
}).then((composed) => {
  broker = composed;
});
// Pending audit summaries first, then every batched line (exit handlers run in order).
process.on("exit", () => {
  if (composed()) broker.audit.flush();
  logs.flush();
});
// Until a function file awaits it, a rejection would be "unhandled", which the worker turns into
// an uncaught exception and exits on. The files' own `await ready` still sees the rejection.
ready.catch(() => undefined);

/** True once `broker` is assigned. */
export function composed(): boolean {
  return (broker as Broker | undefined) !== undefined;
}

/**
 * The maintenance timer's NCRONTAB, read without composing: a timer is registered with its
 * schedule, before the configuration is known to be good.
 */
export const maintenanceSchedule = maintenanceScheduleSetting(process.env);

// Write pending audit summaries and close connections (Redis) when the host shuts the worker down,
// then write the last log lines.
app.hook.appTerminate(async () => {
  if (composed()) await broker.close();
  logs.flush();
});

/**
 * The deployed app's version: the nearest package.json above this module (dist/functions/ when
 * compiled, dist/app/chunks/ inside the bundled package).
 */
function appVersion(): string {
  for (let dir = new URL(".", import.meta.url), i = 0; i < 5; dir = new URL("..", dir), i++) {
    try {
      const version = (JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { version?: unknown }).version;
      if (typeof version === "string") return version.slice(0, 64);
    } catch {
      // not here: one level up
    }
  }
  return "unknown";
}
