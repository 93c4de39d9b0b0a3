import type { TokenCredential } from "@azure/identity";
import type { FederationConfig } from "../config/entra-schema.js";
import { UpstreamFailure } from "../upstream/upstream-failure.js";

/** Builds the credential of one managed identity: system-assigned without a client id. */
export type ManagedIdentityFactory = (clientId: string | undefined) => TokenCredential | Promise<TokenCredential>;

/**
 * In Azure, the Functions host's IDENTITY_ENDPOINT/IDENTITY_HEADER; read by MSAL itself. The SDK is
 * imported on the first assertion, not during the cold start.
 */
export const defaultManagedIdentityFactory: ManagedIdentityFactory = async (clientId) => {
  const { ManagedIdentityCredential } = await import("@azure/identity");
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
};

/**
 * The app's managed identity tokens, used as client assertions by Entra providers with workload
 * identity federation. One credential per identity for the whole process: MSAL caches managed
 * identity tokens (valid for hours) and renews them itself, which is what an assertion needs —
 * unlike the partner token, reusing it never serves a credential the broker wants replaced.
 */
export class ManagedIdentityAssertions {
  private readonly credentials = new Map<string, Promise<TokenCredential>>();

  constructor(private readonly factory: ManagedIdentityFactory = defaultManagedIdentityFactory) {}

  async assertion(federation: FederationConfig): Promise<string> {
    const key = federation.managedIdentityClientId ?? "";
    let credential = this.credentials.get(key);
    if (!credential) {
      credential = Promise.resolve(this.factory(federation.managedIdentityClientId));
      this.credentials.set(key, credential);
    }
    try {
      const token = await (await credential).getToken(`${federation.audience}/.default`);
      if (!token?.token) throw new Error("no token");
      return token.token;
    } catch (error) {
      // The identity endpoint is local to the instance and usually recovers: transient, and
      // only the error's class is repeated (its message may quote the endpoint's answer).
      const name = error instanceof Error && /^[A-Za-z]{1,60}$/.test(error.name) ? error.name : "Error";
      throw new UpstreamFailure("transient", `managed identity token unavailable (${name})`, { cause: error });
    }
  }
}
