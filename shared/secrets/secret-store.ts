/**
 * One interface for Key Vault and the local file store. Versions and tags are first-class because
 * rotation keeps the previous key and a journal next to the current one.
 */
export interface SecretVersion {
  name: string;
  version: string;
  value: string;
  tags: Record<string, string>;
  /** Epoch ms. Key Vault lists versions in no particular order: sort by this. */
  createdOn: number;
  enabled: boolean;
}

export type SecretVersionInfo = Omit<SecretVersion, "value">;

export interface SecretStore {
  /**
   * The latest version (or the given one). Throws `SecretNotFoundError`, or a `secret_unavailable`
   * BrokerError when the store fails or its latest version cannot be used (disabled, unreadable):
   * an older version is never returned in its place.
   */
  get(name: string, version?: string): Promise<SecretVersion>;
  /** Writes a new version; the latest write wins (Key Vault has no compare-and-swap). */
  set(name: string, value: string, tags?: Record<string, string>): Promise<SecretVersion>;
  /** Every version, oldest first. Empty when the secret does not exist. */
  listVersions(name: string): Promise<SecretVersionInfo[]>;
}

import { BrokerError } from "../errors/broker-error.js";

/** The named secret does not exist: a configuration problem, surfaced as `secret_unavailable`. */
export class SecretNotFoundError extends BrokerError {
  constructor(readonly secretName: string) {
    super("secret_unavailable", `Secret "${secretName}" does not exist in the secret store.`);
  }
}
