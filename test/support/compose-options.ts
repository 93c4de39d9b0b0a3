import type { ComposeOptions } from "../../shared/compose.js";
import { ManualClock } from "./manual-clock.js";

/** Options for composeBroker in a test: manual time, no network, logs dropped. */
export function composeOptions(env: Record<string, string>, extra: Partial<ComposeOptions> = {}): ComposeOptions {
  const clock = new ManualClock();
  return {
    env,
    clock,
    sleeper: clock,
    random: () => 0.5,
    fetch: () => Promise.reject(new Error("no network in this test")),
    sink: () => {},
    ...extra,
  };
}
