import { z } from "zod";
import { ApiKeyProviderSchema } from "./api-key-schema.js";
import { CallerSchema, IssuerSchema } from "./caller-schema.js";
import { EntraProviderSchema } from "./entra-schema.js";
import { HttpTokenProviderSchema } from "./http-token-schema.js";
import { PROVIDER_NAME } from "./names.js";
import { OAuth2ProviderSchema } from "./oauth2-schema.js";
import { AuditSchema, StatusSchema } from "./observability-schema.js";

/**
 * The broker's configuration file: the top-level sections, composed from the schema of each
 * provider kind and of each section. Secret values never appear here (see secret-ref-schema.ts).
 */

export const ProviderSchema = z.discriminatedUnion("kind", [
  EntraProviderSchema,
  OAuth2ProviderSchema,
  ApiKeyProviderSchema,
  HttpTokenProviderSchema,
]);
export type ProviderConfig = z.infer<typeof ProviderSchema>;

export const SecretsSchema = z
  .object({
    cacheTtlSec: z.number().int().min(0).default(60).describe("How long a secret value is reused before re-reading the store."),
    maxStaleSec: z
      .number()
      .int()
      .min(0)
      .default(3600)
      .describe("How long a cached secret may still be used while the store is failing."),
    localDir: z.string().min(1).default(".local/secrets").describe("Directory of the local file store (no KEY_VAULT_URL)."),
  })
  .strict()
  .default({ cacheTtlSec: 60, maxStaleSec: 3600, localDir: ".local/secrets" });

export const ConfigSchema = z
  .object({
    $schema: z.string().optional(),
    providers: z.record(z.string().regex(PROVIDER_NAME, "provider names are lower-case letters, digits, dashes"), ProviderSchema),
    issuers: z.record(z.string().min(1), IssuerSchema),
    callers: z.record(z.string().min(1), CallerSchema),
    secrets: SecretsSchema,
    defaultMinTtlSec: z
      .number()
      .int()
      .min(0)
      .default(30)
      .describe("min_ttl applied when a caller sends none: no credential is served with less life left."),
    verifiedCallerCacheSize: z.number().int().min(0).default(10_000).describe("Verified caller tokens kept until their exp."),
    audit: AuditSchema,
    status: StatusSchema,
  })
  .strict()
  .describe(
    "Token broker configuration. Rules that span fields (references between sections, rotation grace periods, key secrets of rotating providers) are checked at start-up with each field's own rules, and every problem is reported in one run.",
  );

export type BrokerConfig = z.infer<typeof ConfigSchema>;
