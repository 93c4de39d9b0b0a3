import { DefaultAzureCredential } from "@azure/identity";
import { ensureDevTls } from "../../dev/tls.js";
import { KeyVaultServer } from "../fakes/key-vault-server.js";
import { ManagedIdentityServer } from "../fakes/managed-identity-server.js";

/** The Key Vault fake and the managed identity fake that issues the tokens it accepts. */
export interface KeyVaultFake {
  vault: KeyVaultServer;
  msi: ManagedIdentityServer;
  /** Finds nothing but the managed identity fake (see `clearAzureEnvironment`). */
  credential: DefaultAzureCredential;
  close(): Promise<void>;
}

/**
 * DefaultAzureCredential must find nothing but the managed identity fake: no developer login, no
 * service principal from the environment. MSAL reads these once per process, before any
 * credential, so a test file calls this at its top.
 */
export function clearAzureEnvironment(): void {
  for (const key of Object.keys(process.env)) {
    if (key.startsWith("AZURE_") || ["MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"].includes(key)) {
      delete process.env[key];
    }
  }
}

export async function startKeyVaultFake(): Promise<KeyVaultFake> {
  const msi = await ManagedIdentityServer.start();
  Object.assign(process.env, msi.env());
  const credential = new DefaultAzureCredential();
  const tls = await ensureDevTls();
  const vault = await KeyVaultServer.start({ tls, acceptToken: (token) => msi.isIssued(token) });
  return {
    vault,
    msi,
    credential,
    async close() {
      await vault.close();
      await msi.close();
    },
  };
}
