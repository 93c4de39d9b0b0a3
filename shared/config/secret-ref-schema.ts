import { z } from "zod";
import { SECRET_NAME } from "./names.js";

/**
 * Secret values never appear in the configuration file: every secret field is a
 * `{ "secret": "<name>" }` reference resolved through the secret store (Key Vault or local file).
 */
export const SecretRefSchema = z
  .object({ secret: z.string().regex(SECRET_NAME, "must be a Key Vault secret name (letters, digits, dashes)") })
  .strict()
  .describe("Reference to a secret by name in the secret store (Key Vault or the local file store).");
export type SecretRef = z.infer<typeof SecretRefSchema>;

/** A value that is either a literal (not sensitive) or a reference to a secret. */
export const ValueOrSecretSchema = z.union([z.string().min(1), SecretRefSchema]);
export type ValueOrSecret = z.infer<typeof ValueOrSecretSchema>;
