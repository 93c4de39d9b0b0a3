import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import type { PartnerCredential } from "./credential.js";
import { TokenBrokerError } from "./errors.js";

export interface BrokerCredentialSource {
  /** The provider's scope when a credential is cached already (checked before any request). */
  knownScope(): string | undefined;
  getCredential(signal: AbortSignal | undefined): Promise<PartnerCredential>;
  /** When the client will renew this credential, while it is the cached one. */
  refreshAfter(credential: PartnerCredential): number | undefined;
}

/**
 * An `@azure/core-auth` TokenCredential over one broker provider, for Azure SDK clients. It
 * refuses every scope but the one the broker states for the provider, so a token is never sent to
 * a service it was not issued for.
 */
export function brokerTokenCredential(provider: string, source: BrokerCredentialSource): TokenCredential {
  return {
    getToken: async (scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> => {
      const requested = (Array.isArray(scopes) ? scopes : [scopes]).map(normalizeScope);
      const known = source.knownScope();
      if (known !== undefined) assertScope(provider, known, requested);
      const signal = options?.abortSignal instanceof AbortSignal ? options.abortSignal : undefined;
      const credential = await source.getCredential(signal);
      if (credential.accessToken === undefined || credential.scope === undefined) {
        throw new TokenBrokerError("scope_mismatch", `Provider "${provider}" issues no scoped token; it cannot serve an Azure SDK client.`);
      }
      assertScope(provider, credential.scope, requested);
      return {
        token: credential.accessToken,
        expiresOnTimestamp: credential.expiresAt.getTime(),
        refreshAfterTimestamp: source.refreshAfter(credential),
        tokenType: "Bearer",
      };
    },
  };
}

/** `https://x//.default` and `https://x/.default` name the same scope (SDKs build both). */
function normalizeScope(scope: string): string {
  return scope.trim().replace(/\/+\.default$/, "/.default");
}

function assertScope(provider: string, issued: string, requested: string[]): void {
  const expected = normalizeScope(issued);
  if (requested.length === 0 || requested.some((s) => s !== expected)) {
    throw new TokenBrokerError("scope_mismatch", `Provider "${provider}" issues tokens for ${expected}, not for ${requested.join(" ") || "(no scope)"}.`);
  }
}

