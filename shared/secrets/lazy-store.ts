import type { SecretStore, SecretVersion, SecretVersionInfo } from "./secret-store.js";

/**
 * A secret store created on its first use. The Key Vault store needs @azure/keyvault-secrets and
 * @azure/identity (MSAL), which would otherwise load during every cold start before a single
 * function is registered; the first secret read pays for them instead, next to its own round trip
 * to the vault. Concurrent first calls share one creation; a failed creation is not kept, so the
 * next call tries again.
 */
export class LazySecretStore implements SecretStore {
  private store: Promise<SecretStore> | undefined;

  constructor(private readonly create: () => Promise<SecretStore>) {}

  async get(name: string, version?: string): Promise<SecretVersion> {
    return (await this.real()).get(name, version);
  }

  async set(name: string, value: string, tags?: Record<string, string>): Promise<SecretVersion> {
    return (await this.real()).set(name, value, tags);
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    return (await this.real()).listVersions(name);
  }

  private real(): Promise<SecretStore> {
    this.store ??= this.create().catch((error: unknown) => {
      this.store = undefined;
      throw error;
    });
    return this.store;
  }
}
