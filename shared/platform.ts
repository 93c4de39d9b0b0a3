import type { Clock, Random, Sleeper } from "./clock.js";
import type { FetchLike } from "./http/fetch-like.js";
import type { Logger } from "./log/logger.js";
import type { SecretStore } from "./secrets/secret-store.js";
import type { Telemetry } from "./telemetry/telemetry.js";

/** Time, delays, randomness and logs: what the composition root hands every component. */
export interface Platform {
  clock: Clock;
  sleeper: Sleeper;
  random: Random;
  logger: Logger;
  /** Spans and metrics; absent means none (telemetry/telemetry.ts noTelemetry). */
  telemetry?: Telemetry;
}

/** A component that also reads secrets and calls partners. */
export interface PartnerPlatform extends Platform {
  secrets: SecretStore;
  fetch: FetchLike;
}
