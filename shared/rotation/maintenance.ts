import { toBrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { RotationService } from "./rotation-service.js";
import type { RotationResult } from "./rotation-types.js";

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

/**
 * The maintenance timer's run: pre-warm the providers marked `prewarm`, then maintain every rotating
 * provider. Providers run side by side and each failure stays with its provider, so one broken
 * partner never holds back the others. One `maintenance_summary` line per provider.
 */
export async function runMaintenance(deps: MaintenanceDeps): Promise<ProviderMaintenance[]> {
  const summaries = deps.providers.map((provider): ProviderMaintenance => ({ provider, prewarm: "skipped" }));
  await Promise.all(
    summaries.map(async (summary) => {
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
    }),
  );
  await Promise.all(
    summaries.map(async (summary) => {
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
          error: { code: failure.code, detail: failure.detail },
        };
      }
    }),
  );
  for (const summary of summaries) {
    const rotation = summary.rotation;
    const failed = summary.prewarm === "failed" || rotation?.outcome === "failed" || rotation?.outcome === "key_limit_reached";
    deps.logger.log(failed ? "warn" : "info", "maintenance_summary", {
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
  return summaries;
}
