import type { TokenCredential } from "@azure/identity";
import type { Clock, Random, Sleeper } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import type { SecretStore } from "../secrets/secret-store.js";
import type { FleetBackplane } from "../tokens/backplane.js";
import { RedisCredentialStore } from "./encrypted-credential-store.js";
import { RedisFleetCoordinator } from "./fleet-single-flight.js";
import { RedisHeartbeats, startHeartbeatLoop, type HeartbeatLoopOptions } from "./heartbeat.js";
import { RedisInvalidationBus } from "./invalidation-bus.js";
import { createRedisConnection, type RedisConnection, type RedisConnectionStatus } from "./redis-connection.js";
import { RedisKeys } from "./redis-keys.js";
import { RedisLock } from "./redis-lock.js";

export interface FleetCache {
  /** The token cache's one port to the fleet: shared store, single-flight and invalidations. */
  backplane: FleetBackplane;
  /** The single-flight alone, for the rejected-credential replacement's own flights. */
  fleet: RedisFleetCoordinator;
  lock: RedisLock;
  heartbeats: RedisHeartbeats;
  /** Publishes this instance's heartbeat periodically until stopped. */
  startHeartbeats(options: Pick<HeartbeatLoopOptions, "intervalMs" | "ttlMs" | "beat">): { stop(): Promise<void> };
  status(): RedisConnectionStatus;
  close(): Promise<void>;
}

export interface FleetCacheOptions {
  url: string;
  /** Microsoft Entra authentication (Azure Managed Redis) instead of a password. */
  entraCredential?: TokenCredential;
  config: BrokerConfig;
  secrets: SecretStore;
  clock: Clock;
  sleeper: Sleeper;
  random: Random;
  logger: Logger;
}

/**
 * Everything the fleet shares through one Redis: encrypted credentials, single-flight leases,
 * invalidation broadcasts, the rotation lock and the instances' heartbeats. Redis being down degrades each of them to the
 * instance's own memory and partner calls; nothing here throws into a request.
 */
export async function createFleetCache(options: FleetCacheOptions): Promise<FleetCache> {
  const { clock, sleeper, random, logger } = options;
  // Loaded only with Entra auth: @redis/entraid brings MSAL's whole client with it.
  const entra = options.entraCredential
    ? new (await import("./entra-redis-credentials.js")).EntraRedisCredentials({ credential: options.entraCredential, logger })
    : undefined;
  const connection: RedisConnection = createRedisConnection({
    url: options.url,
    entra,
    logger,
    clock,
    sleeper,
    random,
  });
  const keys = new RedisKeys();
  const store = new RedisCredentialStore({ connection, secrets: options.secrets, clock, logger, keys });
  const fleet = new RedisFleetCoordinator({
    connection,
    results: store,
    keys,
    clock,
    sleeper,
    logger,
    timings: { lockTtlMs: leaseTtlMs(options.config) },
  });
  const heartbeats = new RedisHeartbeats({ connection, logger });
  const invalidations = new RedisInvalidationBus({ connection, logger });
  return {
    backplane: {
      get: (key) => store.get(key),
      put: (key, credential) => store.put(key, credential),
      // The store indexes entries by provider: it drops the keys this instance never saw too.
      forget: (provider) => store.deleteProvider(provider),
      singleFlight: (key, fetch, flight) => fleet.singleFlight(key, fetch, flight),
      publish: (provider) => invalidations.publish(provider),
      subscribe: (listener) => invalidations.subscribe(listener),
    },
    fleet,
    lock: new RedisLock({ connection, clock, logger }),
    heartbeats,
    startHeartbeats: (loop) => startHeartbeatLoop({ ...loop, heartbeats, connection, sleeper }),
    status: () => connection.status(),
    close: () => connection.close(),
  };
}

/**
 * The single-flight lease must outlast the slowest partner fetch, retries included, or a second
 * instance would take over a fetch that is still running (the coordinator does not extend it).
 */
export function leaseTtlMs(config: BrokerConfig): number {
  let longest = 0;
  for (const provider of Object.values(config.providers)) {
    // One fetch, every attempt and retry delay included, ends by its deadline.
    longest = Math.max(longest, provider.upstream.deadlineMs);
  }
  return Math.max(5_000, longest + 2_000);
}
