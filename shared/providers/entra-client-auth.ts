import type { ClientSecretCredentialOptions, TokenCredential } from "@azure/identity";
import { z } from "zod";
import { TOKEN_EXCHANGE_AUDIENCE, type EntraProviderConfig } from "../config/entra-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import type { SecretStore } from "../secrets/secret-store.js";
import type { ManagedIdentityAssertions } from "./managed-identity-assertions.js";

/** How the broker proves its identity to Entra for one token request. */
export type EntraClientAuth =
  | { kind: "secret"; secret: string }
  | { kind: "certificate"; pem: string }
  /** Workload identity federation: a token from the app's managed identity is the client assertion. */
  | { kind: "federated"; getAssertion: () => Promise<string> };

/** What EntraSource hands the credential factory; a subset of every credential's options. */
export interface EntraCredentialOptions {
  authorityHost: string;
  disableInstanceDiscovery: boolean;
  retryOptions: { maxRetries: number };
  additionalPolicies: NonNullable<ClientSecretCredentialOptions["additionalPolicies"]>[number][];
}

export type EntraCredentialFactory = (
  tenantId: string,
  clientId: string,
  auth: EntraClientAuth,
  options: EntraCredentialOptions,
) => TokenCredential | Promise<TokenCredential>;

/**
 * The real @azure/identity credentials (MSAL node underneath), imported on the first token request:
 * the SDK and MSAL would otherwise be most of the app's start-up, paid by every cold start, even
 * one that never reaches Entra before the next scale-in.
 */
export const defaultEntraCredentialFactory: EntraCredentialFactory = async (tenantId, clientId, auth, options) => {
  const { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential } = await import("@azure/identity");
  switch (auth.kind) {
    case "secret":
      return new ClientSecretCredential(tenantId, clientId, auth.secret, options);
    case "certificate":
      return new ClientCertificateCredential(tenantId, clientId, { certificate: auth.pem }, options);
    case "federated":
      return new ClientAssertionCredential(tenantId, clientId, auth.getAssertion, options);
  }
};

/** A stored client secret: any non-empty value usable in a form body. */
const ClientSecretSchema = z.string().min(1);
/** ClientCertificateCredential needs the certificate and an unencrypted private key in one PEM. */
const CertificatePemSchema = z
  .string()
  .regex(/-----BEGIN CERTIFICATE-----/)
  .regex(/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/);

export interface EntraClientAuthDeps {
  secrets: SecretStore;
  /** Required by clientAuth "managed-identity-federation": the app's own identity. */
  managedIdentity?: ManagedIdentityAssertions;
}

/**
 * The client authentication of an Entra provider, with the secret versions it was read from (part
 * of the cache key). A stored secret of the wrong shape is refused here, before any request.
 */
export async function resolveEntraClientAuth(
  provider: string,
  config: EntraProviderConfig,
  deps: EntraClientAuthDeps,
): Promise<{ value: EntraClientAuth; versions: string[] }> {
  if (config.clientAuth === "managed-identity-federation") {
    const federation = config.federation ?? { audience: TOKEN_EXCHANGE_AUDIENCE };
    const identity = deps.managedIdentity;
    if (!identity) throw new BrokerError("internal", `Provider "${provider}" uses federation but no managed identity was wired.`);
    return { value: { kind: "federated", getAssertion: () => identity.assertion(federation) }, versions: [] };
  }
  const kind = config.clientSecret ? "secret" : "certificate";
  const ref = config.clientSecret ?? config.certificate;
  if (!ref) throw new BrokerError("internal", `Provider "${provider}" has neither clientSecret nor certificate.`);
  const secret = await deps.secrets.get(ref.secret);
  const valid = (kind === "secret" ? ClientSecretSchema : CertificatePemSchema).safeParse(secret.value);
  if (!valid.success) {
    // Name the secret, never its value (zod issues may quote the input, so they are not used either).
    const expected = kind === "secret" ? "a non-empty client secret" : "a PEM with a certificate and an unencrypted private key";
    throw new BrokerError("secret_unavailable", `Secret "${secret.name}" is not ${expected}.`);
  }
  const value: EntraClientAuth = kind === "secret" ? { kind, secret: valid.data } : { kind, pem: valid.data };
  return { value, versions: [`${secret.name}@${secret.version}`] };
}
