import { app } from "@azure/functions";
import { composeBroker } from "../shared/compose.js";
import { BatchedSink } from "../shared/log/batched-sink.js";
import { systemClock, systemSleeper } from "./system.js";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { findAppRoot } from "../shared/config/source.js";

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
  // Where this module was deployed, not the worker's working directory.
  appRoot: findAppRoot(dirname(fileURLToPath(import.meta.url))),
  clock: systemClock,
  sleeper: systemSleeper,
  random: Math.random,
  fetch: globalThis.fetch.bind(globalThis),
  sink: logs.sink,
});

// Close connections (Redis) when the host shuts the worker down, then write the last log lines.
app.hook.appTerminate(async () => {
  await broker.close();
  logs.flush();
});
