import { z } from "zod";
import { urlWithProtocol } from "./url.js";
import { RotationSchema } from "./rotation-schema.js";
import { AuditSchema, StatusSchema } from "./observability-schema.js";

/**
 * The broker's configuration file. Secret values never appear here: every secret field is a
 * `{ "secret": "<name>" }` reference resolved through the secret store (Key Vault or local file).
 */

const SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/; // Key Vault's own rule for secret names
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 token
const PROVIDER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,62})$/;

export const SecretRefSchema = z
  .object({ secret: z.string().regex(SECRET_NAME, "must be a Key Vault secret name (letters, digits, dashes)") })
  .strict()
  .describe("Reference to a secret by name in the secret store (Key Vault or the local file store).");
export type SecretRef = z.infer<typeof SecretRefSchema>;

/** A value that is either a literal (not sensitive) or a reference to a secret. */
export const ValueOrSecretSchema = z.union([z.string().min(1), SecretRefSchema]);
export type ValueOrSecret = z.infer<typeof ValueOrSecretSchema>;

const HttpUrl = urlWithProtocol(["http:", "https:"], "must be an http(s) URL");
const HttpsUrl = urlWithProtocol(["https:"], "must be an https URL");

export const HeadersSchema = z
  .record(z.string().regex(HEADER_NAME, "must be an HTTP header name"), ValueOrSecretSchema)
  .default({})
  .describe("Extra headers the caller must send to the partner: literal values or secret references.");

export const CachePolicySchema = z
  .object({
    refreshAheadFraction: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.75)
      .describe("Refresh in the background once this fraction of the token lifetime has passed."),
    refreshFloorSec: z
      .number()
      .int()
      .min(0)
      .default(120)
      .describe("Refresh at least this many seconds before expiry, whatever the fraction says."),
    jitterSec: z
      .number()
      .int()
      .min(0)
      .default(30)
      .describe("Random spread subtracted from the refresh time so a fleet does not refresh in lockstep."),
    defaultTtlSec: z
      .number()
      .int()
      .positive()
      .default(3600)
      .describe("Lifetime assumed when the partner gives none (and reported for static API keys)."),
    maxTtlSec: z
      .number()
      .int()
      .positive()
      .default(86400)
      .describe("Upper bound on any lifetime the partner claims."),
  })
  .strict()
  .default({ refreshAheadFraction: 0.75, refreshFloorSec: 120, jitterSec: 30, defaultTtlSec: 3600, maxTtlSec: 86400 });
export type CachePolicy = z.infer<typeof CachePolicySchema>;

export const UpstreamPolicySchema = z
  .object({
    timeoutMs: z.number().int().min(100).max(120_000).default(5000).describe("Per-attempt timeout (cut short by deadlineMs)."),
    deadlineMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(10_000)
      .describe(
        "Overall deadline of one fetch, every attempt and retry delay included: a caller waiting on a partner is answered within it. Keep it well under your callers' own timeouts.",
      ),
    maxAttempts: z.number().int().min(1).max(10).default(3).describe("Attempts per fetch, first included."),
    baseDelayMs: z.number().int().min(0).default(200).describe("First retry delay; doubles each attempt, full jitter."),
    maxDelayMs: z.number().int().min(0).default(3000).describe("Cap on one retry delay."),
    maxRetryAfterSec: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe("A partner Retry-After longer than this fails fast (503 with that Retry-After) instead of waiting."),
    maxThrottleSec: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(300)
      .describe(
        "Longest a partner's Retry-After (seconds or HTTP-date) keeps the broker from calling it again; longer values are cut to this. Also the largest Retry-After the broker sends for this provider. An operator refresh ignores the wait.",
      ),
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(10 * 1024 * 1024)
      .default(65_536)
      .describe("Largest partner answer read (token, key API, probe), in bytes; a longer one is abandoned unread (upstream_rejected)."),
    maxTokenBytes: z
      .number()
      .int()
      .min(64)
      .max(1024 * 1024)
      .default(16_384)
      .describe("Longest access token served, in bytes; a longer one is refused (upstream_rejected)."),
    breakerFailures: z.number().int().min(1).default(5).describe("Consecutive failed fetches that open the circuit."),
    breakerOpenSec: z.number().int().min(1).default(30).describe("How long an open circuit fails fast before one trial."),
  })
  .strict()
  .default({
    timeoutMs: 5000,
    deadlineMs: 10_000,
    maxAttempts: 3,
    baseDelayMs: 200,
    maxDelayMs: 3000,
    maxRetryAfterSec: 10,
    maxThrottleSec: 300,
    maxResponseBytes: 65_536,
    maxTokenBytes: 16_384,
    breakerFailures: 5,
    breakerOpenSec: 30,
  });
export type UpstreamPolicy = z.infer<typeof UpstreamPolicySchema>;

export const ProbeSchema = z
  .object({
    url: HttpUrl,
    method: z.enum(["GET", "HEAD", "POST"]).default("GET"),
    expectStatus: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
  })
  .strict()
  .describe("A partner URL that answers 2xx only to valid credentials (e.g. Kalibrate /api/status).");

const providerBase = {
  description: z.string().optional(),
  headers: HeadersSchema,
  cache: CachePolicySchema,
  upstream: UpstreamPolicySchema,
  probe: ProbeSchema.optional(),
  prewarm: z.boolean().default(false).describe("Fetch ahead of demand from the maintenance timer."),
  rejectedMinIntervalSec: z
    .number()
    .int()
    .min(0)
    .default(30)
    .describe("Least time between two partner fetches forced by rejected-credential reports (POST /api/token/{provider}/rejected), fleet-wide."),
};

/** The token exchange audience of the public cloud, which a federated identity credential names by default. */
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";

/** The managed identity token presented as the client assertion (workload identity federation). */
export const FederationSchema = z
  .object({
    audience: z
      .string()
      .min(1)
      .default(TOKEN_EXCHANGE_AUDIENCE)
      .describe(
        "Audience of the managed identity token, as in the partner's federated identity credential: api://AzureADTokenExchange in the public cloud, api://AzureADTokenExchangeUSGov or api://AzureADTokenExchangeChina in sovereign clouds.",
      ),
    managedIdentityClientId: z
      .string()
      .min(1)
      .optional()
      .describe("Client id of a user-assigned managed identity; absent: the system-assigned identity."),
  })
  .strict()
  .describe('Settings of clientAuth "managed-identity-federation"; absent: the system-assigned identity and the public-cloud audience.');
export type FederationConfig = z.infer<typeof FederationSchema>;

export const EntraProviderSchema = z
  .object({
    kind: z.literal("entra"),
    tenantId: z.string().min(1),
    clientId: z.string().min(1),
    clientAuth: z
      .enum(["client_secret", "certificate", "managed-identity-federation"])
      .optional()
      .describe(
        'How the broker authenticates to Entra. Defaults to "client_secret" or "certificate" from the field present; "managed-identity-federation" presents the Function App\'s managed identity token as the client assertion, so no secret exists anywhere (the partner\'s app registration trusts it through a federated identity credential).',
      ),
    clientSecret: SecretRefSchema.optional(),
    certificate: SecretRefSchema.optional().describe("PEM with the private key and certificate."),
    federation: FederationSchema.optional(),
    scope: z.string().min(1).describe("e.g. api://p1-test/.default or https://servicebus.azure.net/.default"),
    authorityHost: HttpsUrl.default("https://login.microsoftonline.com"),
    disableInstanceDiscovery: z
      .boolean()
      .default(false)
      .describe("Required for non-Microsoft authorities (sovereign clouds, emulators, the sandbox)."),
    ...providerBase,
  })
  .strict()
  .superRefine((p, ctx) => {
    const federated = p.clientAuth === "managed-identity-federation";
    if (federated) {
      for (const field of ["clientSecret", "certificate"] as const) {
        if (p[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: "not used with managed-identity-federation: remove it" });
      }
      return;
    }
    if (p.federation !== undefined) {
      ctx.addIssue({ code: "custom", path: ["federation"], message: 'only used with clientAuth "managed-identity-federation"' });
    }
    if ((p.clientSecret === undefined) === (p.certificate === undefined)) {
      ctx.addIssue({ code: "custom", path: ["clientSecret"], message: "exactly one of clientSecret or certificate is required" });
    } else if (p.clientAuth === "client_secret" && p.clientSecret === undefined) {
      ctx.addIssue({ code: "custom", path: ["clientSecret"], message: 'required with clientAuth "client_secret"' });
    } else if (p.clientAuth === "certificate" && p.certificate === undefined) {
      ctx.addIssue({ code: "custom", path: ["certificate"], message: 'required with clientAuth "certificate"' });
    }
  });

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

export const ApiKeyProviderSchema = z
  .object({
    kind: z.literal("api-key"),
    key: SecretRefSchema.describe(
      'For scheme "basic": a JSON secret {"id","secret"}. For scheme "header": the raw key.',
    ),
    scheme: z.enum(["basic", "header"]),
    header: z.string().regex(HEADER_NAME).default("Authorization"),
    prefix: z.string().default("").describe('Prepended to the raw key in scheme "header", e.g. "ApiKey ".'),
    rotation: RotationSchema.optional().describe("Key rotation: through the partner key API or by an operator."),
    ...providerBase,
  })
  .strict();

export const HttpTokenProviderSchema = z
  .object({
    kind: z.literal("http-token"),
    url: HttpUrl,
    method: z.enum(["POST", "GET", "PUT"]).default("POST"),
    authProvider: z
      .string()
      .regex(PROVIDER_NAME)
      .describe("The api-key provider whose headers authenticate the minting request."),
    body: z.record(z.string(), z.unknown()).optional().describe("JSON body of the minting request."),
    response: z
      .object({
        tokenField: z.string().min(1).default("token"),
        expiresInField: z.string().min(1).optional(),
        expiresAtField: z.string().min(1).optional(),
      })
      .strict()
      .default({ tokenField: "token" }),
    tokenType: z.string().min(1).default("Bearer"),
    ...providerBase,
  })
  .strict();

export const ProviderSchema = z.discriminatedUnion("kind", [
  EntraProviderSchema,
  OAuth2ProviderSchema,
  ApiKeyProviderSchema,
  HttpTokenProviderSchema,
]);
export type ProviderConfig = z.infer<typeof ProviderSchema>;
export type EntraProviderConfig = z.infer<typeof EntraProviderSchema>;
export type OAuth2ProviderConfig = z.infer<typeof OAuth2ProviderSchema>;
export type ApiKeyProviderConfig = z.infer<typeof ApiKeyProviderSchema>;
export type HttpTokenProviderConfig = z.infer<typeof HttpTokenProviderSchema>;

export const JWS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;

export const IssuerSchema = z
  .object({
    issuer: z.string().min(1).describe("Exact `iss` value."),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).describe("Accepted `aud` value(s)."),
    jwksUri: HttpUrl,
    algorithms: z.array(z.enum(JWS_ALGORITHMS)).min(1).default(["RS256"]),
    clockToleranceSec: z.number().int().min(0).max(300).default(30),
    jwksCooldownSec: z
      .number()
      .int()
      .min(1)
      .max(300)
      .default(5)
      .describe(
        "At most one JWKS fetch per this many seconds, whatever the outcome: a token whose kid is unknown triggers a fetch (a key published since the last one is accepted within this time), a flood of unknown kids or a failing issuer costs one request per interval.",
      ),
    jwksMaxStaleSec: z
      .number()
      .int()
      .min(60)
      .default(21_600)
      .describe(
        "While the JWKS endpoint fails, the last key set fetched is still used until it is this old (default 6 h); after that callers whose token is not cached get 503.",
      ),
  })
  .strict();
export type IssuerConfig = z.infer<typeof IssuerSchema>;

export const CallerSchema = z
  .object({
    issuer: z.string().min(1).describe("Key of the issuer that must have signed this caller's tokens."),
    id: z.string().min(1).optional().describe("Value of azp/appid/sub identifying the caller (defaults to the caller's key)."),
    providers: z.array(z.string().regex(PROVIDER_NAME)).default([]).describe("Providers this caller may obtain."),
    roles: z.array(z.enum(["operator"])).default([]).describe('"operator" unlocks the admin routes.'),
  })
  .strict();
export type CallerConfig = z.infer<typeof CallerSchema>;

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
