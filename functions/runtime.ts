import { app } from "@azure/functions";
import { composeBroker } from "../shared/compose.js";
import { systemClock, systemSleeper } from "../shared/system.js";

/**
 * The composition root's entry: the only place that hands the process environment, the real
 * clock and the global fetch to the broker. Every function file shares this one instance.
 * A bad configuration throws here, at load, naming every bad field.
 */
export const broker = await composeBroker({
  env: process.env,
  clock: systemClock,
  sleeper: systemSleeper,
  random: Math.random,
  fetch: globalThis.fetch.bind(globalThis),
  sink: (line) => process.stdout.write(line),
});

// Close connections (Redis) when the host shuts the worker down.
app.hook.appTerminate(() => broker.close());
