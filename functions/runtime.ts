import { readFileSync } from "node:fs";
import { app } from "@azure/functions";
import { composeBroker } from "../shared/compose.js";
import { BatchedSink } from "../shared/log/batched-sink.js";
import { systemClock, systemSleeper } from "./system.js";

/**
 * The composition root's entry: the only place that hands the process environment, the real
 * clock and the global fetch to the broker. Every function file shares this one instance.
 * A bad configuration throws here, at load, naming every bad field.
 */
const logs = new BatchedSink(
  (chunk) => process.stdout.write(chunk),
  // unref: a pending batch never keeps the process alive; the exit hook below writes it.
  (callback, delayMs) => setTimeout(callback, delayMs).unref(),
);
process.on("exit", logs.flush);

export const broker = await composeBroker({
  env: process.env,
  clock: systemClock,
  sleeper: systemSleeper,
  random: Math.random,
  fetch: globalThis.fetch.bind(globalThis),
  sink: logs.sink,
  version: appVersion(),
});
// Pending audit summaries first, then every batched line (exit handlers run in order).
process.on("exit", () => {
  broker.audit.flush();
  logs.flush();
});

// Write pending audit summaries and close connections (Redis) when the host shuts the worker down,
// then write the last log lines.
app.hook.appTerminate(async () => {
  await broker.close();
  logs.flush();
});

/** The deployed package's version (package.json sits two levels above dist/functions/). */
function appVersion(): string {
  try {
    const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown }).version;
    return typeof version === "string" ? version.slice(0, 64) : "unknown";
  } catch {
    return "unknown";
  }
}
