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
    timeoutMs: z.number().int().min(100).max(120_000).default(5000).describe("Per-attempt timeout."),
    maxAttempts: z.number().int().min(1).max(10).default(3).describe("Attempts per fetch, first included."),
    baseDelayMs: z.number().int().min(0).default(200).describe("First retry delay; doubles each attempt, full jitter."),
    maxDelayMs: z.number().int().min(0).default(3000).describe("Cap on one retry delay."),
    maxRetryAfterSec: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe("A partner Retry-After longer than this fails fast (503 with that Retry-After) instead of waiting."),
    breakerFailures: z.number().int().min(1).default(5).describe("Consecutive failed fetches that open the circuit."),
    breakerOpenSec: z.number().int().min(1).default(30).describe("How long an open circuit fails fast before one trial."),
  })
  .strict()
  .default({ timeoutMs: 5000, maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 3000, maxRetryAfterSec: 10, breakerFailures: 5, breakerOpenSec: 30 });
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
};

export const EntraProviderSchema = z
  .object({
    kind: z.literal("entra"),
    tenantId: z.string().min(1),
    clientId: z.string().min(1),
    clientSecret: SecretRefSchema.optional(),
    certificate: SecretRefSchema.optional().describe("PEM with the private key and certificate."),
    scope: z.string().min(1).describe("e.g. api://p1-test/.default or https://servicebus.azure.net/.default"),
    authorityHost: HttpsUrl.default("https://login.microsoftonline.com"),
    disableInstanceDiscovery: z
      .boolean()
      .default(false)
      .describe("Required for non-Microsoft authorities (sovereign clouds, emulators, the sandbox)."),
    ...providerBase,
  })
  .strict()
  .refine((p) => (p.clientSecret === undefined) !== (p.certificate === undefined), {
    message: "exactly one of clientSecret or certificate is required",
    path: ["clientSecret"],
  });

export const OAuth2ProviderSchema = z
  .object({
    kind: z.literal("oauth2"),
    tokenUrl: HttpUrl,
    clientId: ValueOrSecretSchema,
    clientSecret: SecretRefSchema,
    clientAuth: z.enum(["client_secret_basic", "client_secret_post"]).default("client_secret_basic"),
    scope: z.string().min(1).optional(),
    params: z.record(z.string(), z.string()).default({}).describe("Extra form parameters, e.g. audience or resource."),
    tokenType: z
      .string()
      .min(1)
      .optional()
      .describe('Token type served to callers whatever the partner says (e.g. "Bearer" for a partner answering "JWT").'),
    ...providerBase,
  })
  .strict();

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
  .superRefine((config, ctx) => {
    for (const problem of referenceProblems(config)) ctx.addIssue({ code: "custom", ...problem });
    // Two rotating providers on one key secret would share one journal under two locks.
    const rotatingSecrets = new Map<string, string>();
    for (const [name, provider] of Object.entries(config.providers)) {
      if (provider.kind !== "api-key" || !provider.rotation) continue;
      // Key Vault secret names ignore case.
      const names = [provider.key.secret, `${provider.key.secret}-rotation`].map((n) => n.toLowerCase());
      const owner = names.map((n) => rotatingSecrets.get(n)).find((o) => o !== undefined);
      if (owner !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["providers", name, "key", "secret"],
          message: `provider "${owner}" already rotates this secret or uses it as its journal; rotating providers need their own key secret`,
        });
        continue;
      }
      for (const n of names) rotatingSecrets.set(n, name);
    }
    for (const [name, provider] of Object.entries(config.providers)) {
      if (provider.kind === "api-key" && provider.rotation?.mode === "partner-api" && provider.scheme !== "basic") {
        // The partner key API is authenticated with the key itself, as Basic id:secret.
        ctx.addIssue({ code: "custom", path: ["providers", name, "rotation", "mode"], message: '"partner-api" rotation needs scheme "basic"' });
      }
      if (provider.kind === "api-key" && provider.rotation?.mode === "partner-api") {
        // Callers may hold a served key for its whole lifetime, and another instance may keep
        // reading the old key secret from its cache for cacheTtlSec, or for maxStaleSec while the
        // store fails (stale-if-error): the old key must outlive all of that.
        const cachedSec = Math.max(config.secrets.cacheTtlSec, config.secrets.maxStaleSec);
        const servedSec = Math.min(provider.cache.defaultTtlSec, provider.cache.maxTtlSec) + cachedSec;
        if (provider.rotation.graceMinutes * 60 < servedSec) {
          ctx.addIssue({
            code: "custom",
            path: ["providers", name, "rotation", "graceMinutes"],
            message: `must cover the time callers and instances may still use the old key (cache.defaultTtlSec + max(secrets.cacheTtlSec, secrets.maxStaleSec) = ${servedSec} s)`,
          });
        }
      }
    }
  });

export type BrokerConfig = z.infer<typeof ConfigSchema>;

export interface ReferenceProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Names that must point at something defined elsewhere in the file: a caller's issuer and
 * providers, an http-token provider's authProvider. Written against the raw JSON as well, so a
 * file with other errors still gets these named in the same report (zod skips object-level
 * refinements once a field fails).
 */
export function referenceProblems(raw: unknown): ReferenceProblem[] {
  const problems: ReferenceProblem[] = [];
  const root = record(raw);
  const issuers = record(root?.issuers);
  const providers = record(root?.providers);
  if (!root || !issuers || !providers) return problems;
  for (const [name, value] of Object.entries(record(root.callers) ?? {})) {
    const caller = record(value);
    if (typeof caller?.issuer === "string" && !Object.hasOwn(issuers, caller.issuer)) {
      problems.push({ path: ["callers", name, "issuer"], message: `unknown issuer "${caller.issuer}"` });
    }
    if (Array.isArray(caller?.providers)) {
      caller.providers.forEach((p: unknown, i: number) => {
        if (typeof p === "string" && !Object.hasOwn(providers, p)) {
          problems.push({ path: ["callers", name, "providers", i], message: `unknown provider "${p}"` });
        }
      });
    }
  }
  for (const [name, value] of Object.entries(providers)) {
    const provider = record(value);
    if (provider?.kind !== "http-token" || typeof provider.authProvider !== "string") continue;
    const auth = record(providers[provider.authProvider]);
    if (!Object.hasOwn(providers, provider.authProvider)) {
      problems.push({ path: ["providers", name, "authProvider"], message: `unknown provider "${provider.authProvider}"` });
    } else if (auth?.kind !== "api-key") {
      // Minting goes through the auth provider's headers directly, outside the token cache:
      // only a static key (no partner call of its own) keeps one upstream request per key.
      problems.push({ path: ["providers", name, "authProvider"], message: "must be an api-key provider" });
    }
  }
  return problems;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
