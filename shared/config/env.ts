import { z } from "zod";
import { ConfigError } from "./load.js";
import { urlWithProtocol } from "./url.js";

/** App settings that exist but are empty (a common Azure pattern) count as unset. */
function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === "" ? undefined : v), schema.optional());
}

const Flag = z
  .enum(["true", "false", "1", "0", ""])
  .optional()
  .transform((v) => v === "true" || v === "1");

const DEFAULT_MAINTENANCE_SCHEDULE = "0 */5 * * * *";

/**
 * The app settings the broker reads. Parsed once by the composition root from the environment it
 * is given (process.env in Azure and locally).
 */
export const EnvSchema = z.object({
  /** Path of the configuration file; a relative path is resolved against the function app root. */
  BROKER_CONFIG: optional(z.string()),
  /** The configuration itself (JSON), for deployments that keep it in an app setting instead of a file. */
  BROKER_CONFIG_JSON: optional(z.string()),
  KEY_VAULT_URL: optional(urlWithProtocol(["https:"], "KEY_VAULT_URL must be an https URL")),
  /** Key Vault-compatible emulators and loopback fakes are not on *.vault.azure.net. */
  KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: Flag,
  REDIS_URL: optional(urlWithProtocol(["redis:", "rediss:"], "REDIS_URL must be a redis:// or rediss:// URL")),
  /** Microsoft Entra authentication (the managed identity) to Azure Managed Redis instead of a password. */
  REDIS_ENTRA_AUTH: Flag,
  /**
   * Partner-API rotation needs a fleet-wide lock; without Redis only a single-instance app may
   * rotate (e.g. maximumInstanceCount 1). This acknowledges that.
   */
  ALLOW_IN_PROCESS_ROTATION_LOCK: Flag,
  MAINTENANCE_SCHEDULE: z.string().min(1).default(DEFAULT_MAINTENANCE_SCHEDULE),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Turns on OpenTelemetry export to Application Insights (ingestion authenticated with the managed identity). */
  APPLICATIONINSIGHTS_CONNECTION_STRING: optional(z.string().regex(/InstrumentationKey=/i, "APPLICATIONINSIGHTS_CONNECTION_STRING must hold an InstrumentationKey")),
  /** Telemetry goes to the ingestion endpoint only: no SDK statistics, no SDK settings poll (locked-down networks). */
  TELEMETRY_INGESTION_ONLY: Flag,
  /** Seconds between metric exports (default 60). */
  TELEMETRY_METRIC_INTERVAL_SEC: optional(z.coerce.number().int().min(1).max(3600)),
  /** Cloud role name and instance in Application Insights (set by App Service / Functions). */
  WEBSITE_SITE_NAME: optional(z.string()),
  WEBSITE_INSTANCE_ID: optional(z.string()),
});

export type BrokerEnv = z.infer<typeof EnvSchema>;

/** Exactly one configuration source: with none there is nothing to serve, with both it could be the wrong one. */
const CheckedEnvSchema = EnvSchema.superRefine((env, ctx) => {
  if (env.BROKER_CONFIG === undefined && env.BROKER_CONFIG_JSON === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["BROKER_CONFIG"],
      message: "set BROKER_CONFIG (path of the configuration file) or BROKER_CONFIG_JSON (the configuration itself)",
    });
  } else if (env.BROKER_CONFIG !== undefined && env.BROKER_CONFIG_JSON !== undefined) {
    ctx.addIssue({ code: "custom", path: ["BROKER_CONFIG_JSON"], message: "set BROKER_CONFIG or BROKER_CONFIG_JSON, not both" });
  }
});

export function parseEnv(env: Record<string, string | undefined>): BrokerEnv {
  const result = CheckedEnvSchema.safeParse(env, { jitless: true });
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid app settings:\n  - ${lines.join("\n  - ")}`, lines);
  }
  return result.data;
}

/**
 * MAINTENANCE_SCHEDULE alone, without validating the other settings: the timer registers with it
 * before the broker is composed. Never throws; the host checks the expression itself.
 */
export function maintenanceScheduleSetting(env: Record<string, string | undefined>): string {
  const value = env.MAINTENANCE_SCHEDULE;
  return value === undefined || value === "" ? DEFAULT_MAINTENANCE_SCHEDULE : value;
}
