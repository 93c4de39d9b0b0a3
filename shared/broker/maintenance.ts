import type { BrokerConfig } from "../config/schema.js";
import { toBrokerError } from "../errors/broker-error.js";
import { isConflict } from "../errors/conflict-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { ProviderRuntime } from "../providers/source-registry.js";
import type { RotationService } from "../rotation/rotation-service.js";
import { rotationFailure, type RotationResult } from "../rotation/rotation-types.js";
import type { SigningKeys } from "../signing/signing-keys.js";
import type { TokenCache } from "../tokens/token-cache.js";

/*
 * What the `maintenance` timer does (functions/maintenance.ts calls runMaintenanceTimer), in order:
 *
 * 1. Rotate signing keys (signing/signing-keys.ts): a version created now starts its publication
 *    overlap at once. Each key's failure is logged and retried on the next run.
 * 2. Pre-warm the providers marked `prewarm` through the token cache, so a fresh token lands in the
 *    shared cache too and every instance of the fleet serves it.
 * 3. Maintain every rotating provider (RotationService.maintain, under the provider's rotation
 *    lock): partner-api rotation resumes an unfinished run, retires the previous key past its grace
 *    period, sweeps orphans and rotates when due (rotation/partner-rotation.ts); operator rotation
 *    probes a newly written version (rotation/operator-rotation.ts).
 * 4. Write one `maintenance_summary` line per provider.
 *
 * Providers run side by side and each failure stays with its provider, so one broken partner never
 * holds back the others.
 */

export interface MaintenanceRunDeps {
  config: BrokerConfig;
  cache: TokenCache;
  providers: ReadonlyMap<string, ProviderRuntime>;
  rotation: RotationService;
  signingKeys: SigningKeys;
  logger: Logger;
}

export interface MaintenanceDeps {
  providers: string[];
  /** Fetches a credential ahead of demand (the token cache's refresh). */
  prewarm(provider: string): Promise<void>;
  rotation: RotationService;
  logger: Logger;
}

export interface ProviderMaintenance {
  provider: string;
  prewarm: "ok" | "failed" | "skipped";
  prewarmError?: { code: string; detail: string };
  /** Absent for providers without rotation. */
  rotation?: RotationResult;
}

/** One run of the `maintenance` timer: the steps above. */
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

/** Step 1. Nothing here needs resuming: every run decides again from the versions the vault holds. */
async function rotateSigningKeys(deps: MaintenanceRunDeps): Promise<void> {
  for (const provider of deps.signingKeys.rotating()) {
    try {
      const result = await deps.signingKeys.rotate(provider, false);
      deps.logger.log("info", "signing_key_rotation", { ...result });
    } catch (error) {
      // Another instance is running this step right now: nothing failed, nothing to do here.
      if (isConflict(error, "rotation_running")) deps.logger.log("info", "signing_key_rotation_skipped", { provider, reason: "rotation_running" });
      else deps.logger.log("warn", "signing_key_rotation_failed", { provider, ...errorFields(error) });
    }
  }
}

/** Steps 2 to 4, per provider. */
export async function runMaintenance(deps: MaintenanceDeps): Promise<ProviderMaintenance[]> {
  const summaries = deps.providers.map((provider): ProviderMaintenance => ({ provider, prewarm: "skipped" }));
  await Promise.all(summaries.map((summary) => prewarm(deps, summary)));
  await Promise.all(summaries.map((summary) => maintainRotation(deps, summary)));
  for (const summary of summaries) logSummary(deps.logger, summary);
  return summaries;
}

async function prewarm(deps: MaintenanceDeps, summary: ProviderMaintenance): Promise<void> {
  if (!deps.rotation.providerConfig(summary.provider)?.prewarm) return;
  try {
    await deps.prewarm(summary.provider);
    summary.prewarm = "ok";
  } catch (error) {
    const failure = toBrokerError(error);
    summary.prewarm = "failed";
    summary.prewarmError = { code: failure.code, detail: failure.detail };
    deps.logger.log("warn", "prewarm_failed", { provider: summary.provider, ...errorFields(error) });
  }
}

async function maintainRotation(deps: MaintenanceDeps, summary: ProviderMaintenance): Promise<void> {
  if (!deps.rotation.isRotating(summary.provider)) return;
  try {
    summary.rotation = await deps.rotation.maintain(summary.provider);
  } catch (error) {
    // maintain() does not throw; this guards the loop against a bug in it all the same.
    const failure = toBrokerError(error);
    const config = deps.rotation.providerConfig(summary.provider);
    summary.rotation = {
      provider: summary.provider,
      mode: config?.kind === "api-key" && config.rotation?.mode === "operator" ? "operator" : "partner-api",
      outcome: "failed",
      actions: [],
      error: rotationFailure(failure),
    };
  }
}

function logSummary(logger: Logger, summary: ProviderMaintenance): void {
  const rotation = summary.rotation;
  const failed = summary.prewarm === "failed" || rotation?.outcome === "failed" || rotation?.outcome === "key_limit_reached";
  logger.log(failed ? "warn" : "info", "maintenance_summary", {
    provider: summary.provider,
    prewarm: summary.prewarm,
    prewarm_error: summary.prewarmError?.code,
    rotation_outcome: rotation?.outcome,
    rotation_reason: rotation?.reason,
    actions: rotation?.actions ?? [],
    key_id: rotation?.keyId,
    error_code: rotation?.error?.code,
    error_detail: rotation?.error?.detail,
  });
}
