import type { TokenCredential } from "@azure/identity";
import { SecretClient, type KeyVaultSecret, type SecretProperties } from "@azure/keyvault-secrets";
import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";
import { KeyVaultRequests, type KeyVaultRequestDeps } from "./key-vault-requests.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "./secret-store.js";
import { assertSecretName, assertSecretVersion } from "./secret-name.js";

export interface KeyVaultSecretStoreDeps extends KeyVaultRequestDeps {
  /**
   * Deadline for one store operation including the SDK's retries (our 429 back-off gives each
   * attempt a new one). The SDK has no default timeout, so a hung vault would hang the broker.
   */
  timeoutMs?: number;
}

export interface SdkRetryOptions {
  maxRetries?: number;
  retryDelayInMs?: number;
  maxRetryDelayInMs?: number;
}

export interface KeyVaultSecretStoreOptions extends KeyVaultSecretStoreDeps {
  vaultUrl: string;
  credential: TokenCredential;
  /** Needed for Key Vault-compatible emulators whose host does not end with `.vault.azure.net`. */
  disableChallengeResourceVerification: boolean;
  sdkRetry?: SdkRetryOptions;
}

export const DEFAULT_TIMEOUT_MS = 15_000;
/** Modest SDK retries so a dead vault fails in seconds, not minutes (SDK default: 3 retries up to 64 s apart). */
export const DEFAULT_SDK_RETRY: Required<SdkRetryOptions> = { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4000 };

export function createKeyVaultSecretStore(options: KeyVaultSecretStoreOptions): KeyVaultSecretStore {
  const client = new SecretClient(options.vaultUrl, options.credential, {
    disableChallengeResourceVerification: options.disableChallengeResourceVerification,
    retryOptions: { ...DEFAULT_SDK_RETRY, ...options.sdkRetry },
  });
  return new KeyVaultSecretStore(client, options);
}

const TagsSchema = z.record(z.string(), z.string()).optional();

const PropertiesSchema = z.object({
  version: z.string().min(1),
  createdOn: z.date(),
  enabled: z.boolean().optional(),
  tags: TagsSchema,
});

const SecretSchema = z.object({ value: z.string(), properties: PropertiesSchema });

/**
 * SecretStore over Azure Key Vault through the real `SecretClient`, each call run by
 * KeyVaultRequests (its 429 back-off, SDK failures as the broker's errors) under one deadline.
 * Answers are checked before use: a malformed one is `secret_unavailable`.
 */
export class KeyVaultSecretStore implements SecretStore {
  private readonly requests: KeyVaultRequests;
  private readonly timeoutMs: number;

  constructor(
    private readonly client: SecretClient,
    deps: KeyVaultSecretStoreDeps,
  ) {
    this.requests = new KeyVaultRequests(deps);
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async get(name: string, version?: string): Promise<SecretVersion> {
    assertSecretName(name);
    if (version !== undefined) assertSecretVersion(version);
    const secret = await this.requests.run("get", name, () =>
      this.client.getSecret(name, { version, abortSignal: this.deadline() }),
    );
    return toSecretVersion(name, secret);
  }

  async set(name: string, value: string, tags: Record<string, string> = {}): Promise<SecretVersion> {
    assertSecretName(name);
    if (typeof value !== "string") throw new BrokerError("bad_request", "A secret value must be a string.");
    if (!TagsSchema.safeParse(tags).success) throw new BrokerError("bad_request", "Secret tags must be string to string.");
    const secret = await this.requests.run("set", name, () =>
      this.client.setSecret(name, value, { tags, abortSignal: this.deadline() }),
    );
    return toSecretVersion(name, secret);
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    assertSecretName(name);
    let properties: SecretProperties[];
    try {
      // The whole listing is one attempt: a throttled page restarts it, so no page is skipped.
      properties = await this.requests.run("list", name, async () => {
        const all: SecretProperties[] = [];
        const pages = this.client.listPropertiesOfSecretVersions(name, { abortSignal: this.deadline() });
        for await (const item of pages) all.push(item);
        return all;
      });
    } catch (error) {
      if (error instanceof SecretNotFoundError) return [];
      throw error;
    }
    // Key Vault lists versions in no particular order. `created` has one-second resolution, so
    // the version id breaks ties to keep the order stable.
    return properties
      .map((p) => toInfo(name, p))
      .sort((a, b) => a.createdOn - b.createdOn || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  }

  /**
   * An abort signal, not the SDK's per-request `timeout`: the SDK leaves that timer running when a
   * connection fails, and AbortSignal.timeout's timer never keeps the process alive.
   */
  private deadline(): AbortSignal {
    return AbortSignal.timeout(this.timeoutMs);
  }
}

function toSecretVersion(name: string, secret: KeyVaultSecret): SecretVersion {
  const parsed = SecretSchema.safeParse(secret);
  if (!parsed.success) throw unexpectedResponse(name);
  const p = parsed.data.properties;
  return {
    name,
    version: p.version,
    value: parsed.data.value,
    tags: { ...p.tags },
    createdOn: p.createdOn.getTime(),
    enabled: p.enabled ?? true,
  };
}

function toInfo(name: string, properties: SecretProperties): SecretVersionInfo {
  const parsed = PropertiesSchema.safeParse(properties);
  if (!parsed.success) throw unexpectedResponse(name);
  const p = parsed.data;
  return { name, version: p.version, tags: { ...p.tags }, createdOn: p.createdOn.getTime(), enabled: p.enabled ?? true };
}

/** The zod error is not attached: its issues could quote the payload. */
function unexpectedResponse(name: string): BrokerError {
  return new BrokerError("secret_unavailable", `The secret store returned an unexpected response for secret "${name}".`);
}
