import type { BrokerConfig } from "../config/schema.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { ProviderRuntime } from "../providers/source-registry.js";
import { runMaintenance, type ProviderMaintenance } from "../rotation/maintenance.js";
import type { RotationService } from "../rotation/rotation-service.js";
import type { SigningKeys } from "../signing/signing-keys.js";
import type { TokenCache } from "../tokens/token-cache.js";

export interface MaintenanceRunDeps {
  config: BrokerConfig;
  cache: TokenCache;
  providers: ReadonlyMap<string, ProviderRuntime>;
  rotation: RotationService;
  signingKeys: SigningKeys;
  logger: Logger;
}

/**
 * One run of the `maintenance` timer: pre-warm, resume unfinished rotations, start due ones, retire
 * old keys, sweep orphans. Pre-warming goes through the token cache, so a fresh token lands in the
 * shared cache too and every instance of the fleet serves it.
 */
export async function runMaintenanceTimer(deps: MaintenanceRunDeps, timer: { isPastDue: boolean }): Promise<ProviderMaintenance[]> {
  deps.logger.log(timer.isPastDue ? "warn" : "info", "maintenance_started", { is_past_due: timer.isPastDue });
  await rotateSigningKeys(deps);
  return runMaintenance({
    providers: [...deps.providers.keys()],
    rotation: deps.rotation,
    logger: deps.logger,
    prewarm: async (provider) => {
      const config = deps.config.providers[provider]!;
      // Ask for a token that outlives the refresh floor, so a run right before expiry refreshes.
      await deps.cache.get(deps.providers.get(provider)!.source, config.cache, { minTtlSec: config.cache.refreshFloorSec });
    },
  });
}

/**
 * Signing keys first: a version created now starts its publication overlap at once. Each key's
 * failure stays with it (logged, retried on the next run); nothing here needs resuming, since every
 * run decides again from the versions the vault holds.
 */
async function rotateSigningKeys(deps: MaintenanceRunDeps): Promise<void> {
  for (const provider of deps.signingKeys.rotating()) {
    try {
      const result = await deps.signingKeys.rotate(provider, false);
      deps.logger.log("info", "signing_key_rotation", { ...result });
    } catch (error) {
      deps.logger.log("warn", "signing_key_rotation_failed", { provider, ...errorFields(error) });
    }
  }
}
