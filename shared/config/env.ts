import { z } from "zod";

const Flag = z
  .enum(["true", "false", "1", "0", ""])
  .optional()
  .transform((v) => v === "true" || v === "1");

/**
 * The app settings the broker reads. Parsed once by the composition root from the environment it
 * is given (process.env in Azure and locally).
 */
export const EnvSchema = z.object({
  BROKER_CONFIG: z.string().min(1, "BROKER_CONFIG must name the configuration file"),
  KEY_VAULT_URL: z
    .string()
    .url()
    .refine((u) => new URL(u).protocol === "https:", "KEY_VAULT_URL must be https")
    .optional(),
  /** Key Vault-compatible emulators and loopback fakes are not on *.vault.azure.net. */
  KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: Flag,
  REDIS_URL: z
    .string()
    .url()
    .refine((u) => /^rediss?:$/.test(new URL(u).protocol), "REDIS_URL must be redis:// or rediss://")
    .optional(),
  MAINTENANCE_SCHEDULE: z.string().min(1).default("0 */5 * * * *"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

export type BrokerEnv = z.infer<typeof EnvSchema>;

export function parseEnv(env: Record<string, string | undefined>): BrokerEnv {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid app settings:\n  - ${lines.join("\n  - ")}`);
  }
  return result.data;
}
