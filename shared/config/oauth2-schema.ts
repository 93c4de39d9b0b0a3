import { z } from "zod";
import { SECRET_NAME } from "./names.js";
import { providerBase } from "./provider-base-schema.js";
import { SecretRefSchema, ValueOrSecretSchema } from "./secret-ref-schema.js";
import { HttpsUrl, HttpUrl } from "./url.js";

/** Algorithms a signing key may use for client assertions (what Key Vault keys sign with, and what partners accept). */
export const ASSERTION_ALGORITHMS = ["RS256", "PS256", "ES256"] as const;

export const SigningKeySchema = z
  .object({
    keyVaultKey: z
      .string()
      .regex(SECRET_NAME, "must be a Key Vault key name (letters, digits, dashes)")
      .optional()
      .describe("Name of a Key Vault key (RSA for RS256/PS256, EC P-256 for ES256): the vault signs, the private key never leaves it."),
    vaultUrl: HttpsUrl.optional().describe("Vault of keyVaultKey when it is not KEY_VAULT_URL."),
    pem: SecretRefSchema.optional().describe("A PEM private key held as a secret: for development and partners that hand out a key file."),
    algorithm: z.enum(ASSERTION_ALGORITHMS).default("RS256"),
    rotation: z
      .object({
        intervalDays: z.number().positive().max(3650).describe("A new key version is created this long after the newest one."),
        publishOverlapMinutes: z
          .number()
          .min(0)
          .default(60)
          .describe("A new version is published in /api/jwks this long before it signs: at least the partner's JWKS cache time."),
      })
      .strict()
      .optional()
      .describe("Rotation of keyVaultKey by the maintenance timer; previous versions stay published until no assertion they signed can be in use."),
  })
  .strict()
  .superRefine((k, ctx) => {
    if ((k.keyVaultKey === undefined) === (k.pem === undefined)) {
      ctx.addIssue({ code: "custom", path: ["keyVaultKey"], message: "exactly one of keyVaultKey or pem is required" });
    }
    if (k.rotation && k.keyVaultKey === undefined) ctx.addIssue({ code: "custom", path: ["rotation"], message: "only keyVaultKey keys are rotated by the broker" });
    if (k.vaultUrl && k.keyVaultKey === undefined) ctx.addIssue({ code: "custom", path: ["vaultUrl"], message: "only used with keyVaultKey" });
  });
export type SigningKeyConfig = z.infer<typeof SigningKeySchema>;

export const ClientAssertionSchema = z
  .object({
    audience: z.string().min(1).optional().describe("`aud` of the assertion; default the tokenUrl (RFC 7523 §3)."),
    lifetimeSec: z.number().int().min(10).max(300).default(120).describe("`exp` - `iat`; at most 5 minutes."),
    reuse: z
      .boolean()
      .default(false)
      .describe("Reuse one assertion for most of its lifetime. Only for partners that accept a repeated jti; by default every token request gets its own."),
  })
  .strict()
  .default({ lifetimeSec: 120, reuse: false });
export type ClientAssertionConfig = z.infer<typeof ClientAssertionSchema>;

export const OAuth2ProviderSchema = z
  .object({
    kind: z.literal("oauth2"),
    tokenUrl: HttpUrl,
    clientId: ValueOrSecretSchema,
    clientSecret: SecretRefSchema.optional().describe('Required with clientAuth "client_secret_basic" and "client_secret_post".'),
    clientAuth: z
      .enum(["client_secret_basic", "client_secret_post", "tls_client_auth", "private_key_jwt"])
      .default("client_secret_basic")
      .describe(
        "client_secret_basic / client_secret_post (RFC 6749 §2.3.1); tls_client_auth (RFC 8705 §2.1): no secret, the client is authenticated by tlsClientCertificate; private_key_jwt (RFC 7523 §2.2): a short-lived assertion signed by signingKey.",
      ),
    signingKey: SigningKeySchema.optional().describe("The key that signs private_key_jwt assertions; its public keys are served at /api/jwks."),
    assertion: ClientAssertionSchema,
    tlsClientCertificate: SecretRefSchema.optional().describe(
      "Client certificate for mutual TLS with this provider's token endpoint only: a PEM holding the certificate and its unencrypted private key, or a PFX/PKCS#12 in base64 without a password (how Key Vault serves a certificate's secret). Required by tls_client_auth; also usable with the other methods when the partner demands mTLS on the transport.",
    ),
    scope: z.string().min(1).optional(),
    params: z.record(z.string(), z.string()).default({}).describe("Extra form parameters, e.g. audience or resource."),
    tokenType: z
      .string()
      .min(1)
      .optional()
      .describe('Token type served to callers whatever the partner says (e.g. "Bearer" for a partner answering "JWT").'),
    ...providerBase,
  })
  .strict()
  .superRefine((p, ctx) => {
    const secretless = p.clientAuth === "tls_client_auth" || p.clientAuth === "private_key_jwt";
    if (p.clientAuth === "tls_client_auth" && p.tlsClientCertificate === undefined) {
      ctx.addIssue({ code: "custom", path: ["tlsClientCertificate"], message: "required with tls_client_auth" });
    }
    if ((p.clientAuth === "private_key_jwt") !== (p.signingKey !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["signingKey"], message: "required with private_key_jwt, and only used with it" });
    }
    if (secretless) {
      if (p.clientSecret !== undefined) ctx.addIssue({ code: "custom", path: ["clientSecret"], message: `not sent with ${p.clientAuth}: remove it` });
    } else if (p.clientSecret === undefined) {
      ctx.addIssue({ code: "custom", path: ["clientSecret"], message: `required with ${p.clientAuth}` });
    }
  });
export type OAuth2ProviderConfig = z.infer<typeof OAuth2ProviderSchema>;
