import { z } from "zod";
import { providerBase } from "./provider-base-schema.js";
import { SecretRefSchema } from "./secret-ref-schema.js";
import { HttpsUrl } from "./url.js";

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
export type EntraProviderConfig = z.infer<typeof EntraProviderSchema>;
