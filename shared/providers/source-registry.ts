import type { BrokerConfig, ProviderConfig } from "../config/schema.js";
import { UpstreamCaller } from "../upstream/upstream-caller.js";
import { ApiKeySource } from "./api-key-source.js";
import type { TokenSource } from "./credential.js";
import type { EntraCredentialFactory } from "./entra-client-auth.js";
import { EntraSource } from "./entra-source.js";
import { ClientCertificateTransports, type CertificateFetchFactory } from "../http/client-certificate-transports.js";
import { ClientAssertions } from "../signing/client-assertions.js";
import type { SigningKeys } from "../signing/signing-keys.js";
import { ManagedIdentityAssertions, type ManagedIdentityFactory } from "./managed-identity-assertions.js";
import { HttpTokenSource } from "./http-token-source.js";
import { OAuth2Source } from "./oauth2-source.js";
import type { PartnerPlatform } from "../platform.js";

export interface SourceRegistryDeps extends PartnerPlatform {
  /** Tests and emulators may replace the @azure/identity credentials. */
  credentialFactory?: EntraCredentialFactory;
  /** Tests and emulators may replace the app's managed identity credential. */
  managedIdentityFactory?: ManagedIdentityFactory;
  /** Tests may replace the mutual-TLS HTTP client. */
  certificateFetchFactory?: CertificateFetchFactory;
  /** Signers of private_key_jwt providers. */
  signingKeys?: SigningKeys;
}

/** The providers' runtimes, and the release of what they hold open beyond a request. */
export interface Sources {
  providers: Map<string, ProviderRuntime>;
  /** Closes the mutual-TLS connection pools, so their sockets do not outlive the broker. */
  close(): Promise<void>;
}

export interface ProviderRuntime {
  source: TokenSource;
  /** Absent for sources that never call a partner (static API keys). */
  caller?: UpstreamCaller;
}

/**
 * Builds one token source per configured provider, each with its own UpstreamCaller (and so its
 * own circuit breaker). http-token providers get the source of their authProvider.
 */
export function buildSources(config: BrokerConfig, deps: SourceRegistryDeps): Sources {
  const built = new Map<string, ProviderRuntime>();
  // One per process: every federated provider presents the same identity's token.
  const managedIdentity = new ManagedIdentityAssertions(deps.managedIdentityFactory);
  // Loaded on first use: only apps with an mTLS provider pay for the second HTTP client.
  const certificates = new ClientCertificateTransports(async () =>
    deps.certificateFetchFactory ?? (await import("../http/undici-certificate-fetch.js")).undiciCertificateFetch,
  );
  const build = (name: string): ProviderRuntime => {
    const existing = built.get(name);
    if (existing) return existing;
    const runtime = create(name, config.providers[name]!, { ...deps, managedIdentity, certificates }, build);
    built.set(name, runtime);
    return runtime;
  };
  for (const name of Object.keys(config.providers)) build(name);
  return { providers: built, close: () => certificates.close() };
}

function create(
  name: string,
  config: ProviderConfig,
  deps: SourceRegistryDeps & { managedIdentity: ManagedIdentityAssertions; certificates: ClientCertificateTransports },
  build: (name: string) => ProviderRuntime,
): ProviderRuntime {
  const { secrets, fetch, clock } = deps;
  const upstream = () => new UpstreamCaller(name, config.upstream, deps);
  switch (config.kind) {
    case "api-key":
      return { source: new ApiKeySource({ name, config, secrets, clock }) };
    case "oauth2": {
      const caller = upstream();
      const assertions =
        config.signingKey && deps.signingKeys ? new ClientAssertions(deps.signingKeys.signerFor(name), config.assertion, clock) : undefined;
      return { source: new OAuth2Source({ name, config, secrets, fetch, clock, caller, certificates: deps.certificates, assertions }), caller };
    }
    case "entra": {
      const caller = upstream();
      const source = new EntraSource({
        name,
        config,
        secrets,
        clock,
        caller,
        credentialFactory: deps.credentialFactory,
        managedIdentity: deps.managedIdentity,
      });
      return { source, caller };
    }
    case "http-token": {
      const caller = upstream();
      const auth = build(config.authProvider).source;
      return { source: new HttpTokenSource({ name, config, secrets, fetch, clock, caller, auth }), caller };
    }
  }
}
