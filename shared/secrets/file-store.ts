import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Clock } from "../clock.js";
import { BrokerError } from "../errors/broker-error.js";
import type { Logger } from "../log/logger.js";
import { parseJsonOrUndefined } from "../json/parse-json.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "./secret-store.js";
import { assertSecretName, assertSecretVersion, SECRET_VERSION_PATTERN } from "./secret-name.js";
import { SecretFiles, type VersionFile } from "./secret-files.js";

export interface FileSecretStoreDeps {
  clock: Clock;
  /** Receives a warning for every unreadable version file and an error for every failed write. */
  logger?: Logger;
}

const StoredSecretSchema = z
  .object({
    name: z.string(),
    version: z.string().regex(SECRET_VERSION_PATTERN),
    value: z.string(),
    tags: z.record(z.string(), z.string()),
    createdOn: z.number().int().nonnegative(),
    enabled: z.boolean(),
  })
  .strict();

const TagsSchema = z.record(z.string(), z.string());

/**
 * The local secret store used when no Key Vault is configured (demo, dev, a local fleet), over the
 * files laid out by SecretFiles (one immutable file per version, the newest sorting last). The
 * newest version is authoritative: a corrupt, disabled or vanished newest version is
 * `secret_unavailable`, never answered with an older version.
 */
export class FileSecretStore implements SecretStore {
  private readonly logger: Logger | undefined;
  private readonly files: SecretFiles;
  /** Lower-cased names this store has returned a latest version of (bounded by the names in the config). */
  private readonly served = new Set<string>();

  constructor(dir: string, deps: FileSecretStoreDeps) {
    this.logger = deps.logger;
    this.files = new SecretFiles(dir, deps);
  }

  async get(name: string, version?: string): Promise<SecretVersion> {
    assertSecretName(name);
    if (version !== undefined) assertSecretVersion(version);
    const files = await this.files.list(name);
    if (version !== undefined) {
      const file = files.find((f) => f.version === version);
      const secret = file && (await this.readVersion(name, file));
      if (!secret) throw new SecretNotFoundError(name);
      return secret;
    }
    // The newest version is authoritative, as in Key Vault: when it cannot be used the secret is
    // unavailable (an outage, so stale-if-error may keep serving the value read before), never
    // silently replaced by an older version, which after a rotation may be a key being retired.
    const newest = files.at(-1);
    const key = name.toLowerCase();
    if (newest === undefined) {
      // A secret this store served before has vanished with its directory (or the whole store
      // directory is gone): a broken store, not a deleted secret.
      if (this.served.has(key)) throw new BrokerError("secret_unavailable", "A secret's files are missing from the local secret store.");
      throw new SecretNotFoundError(name);
    }
    const secret = await this.readVersion(name, newest);
    if (!secret) throw new BrokerError("secret_unavailable", "The newest version of a secret in the local store is unreadable.");
    // Key Vault answers 403 to a latest read when that version is disabled.
    if (!secret.enabled) throw new BrokerError("secret_unavailable", "The newest version of a secret in the local store is disabled.");
    this.served.add(key);
    return secret;
  }

  async set(name: string, value: string, tags: Record<string, string> = {}): Promise<SecretVersion> {
    assertSecretName(name);
    if (typeof value !== "string") throw new BrokerError("bad_request", "A secret value must be a string.");
    const parsedTags = TagsSchema.safeParse(tags);
    if (!parsedTags.success) throw new BrokerError("bad_request", "Secret tags must be string to string.");
    const slot = await this.files.nextSlot(name);
    const secret: SecretVersion = {
      name,
      version: randomBytes(16).toString("hex"),
      value,
      tags: { ...parsedTags.data },
      createdOn: slot.createdOn,
      enabled: true,
    };
    await this.files.write(name, slot, secret.version, JSON.stringify(secret));
    return { ...secret, tags: { ...secret.tags } };
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    assertSecretName(name);
    const files = await this.files.list(name);
    const secrets = await Promise.all(files.map((f) => this.readVersion(name, f)));
    const infos: SecretVersionInfo[] = [];
    for (const secret of secrets) {
      if (!secret) continue;
      const { value: _value, ...info } = secret;
      infos.push(info);
    }
    return infos;
  }

  /** A corrupt or foreign file is undefined, with a warning that never quotes it. */
  private async readVersion(name: string, file: VersionFile): Promise<SecretVersion | undefined> {
    const text = await this.files.read(name, file);
    const parsed = StoredSecretSchema.safeParse(parseJsonOrUndefined(text));
    if (!parsed.success || parsed.data.version !== file.version || parsed.data.name.toLowerCase() !== name.toLowerCase()) {
      this.logger?.log("warn", "secret_file_corrupt", { secret: name, file: file.file });
      return undefined;
    }
    return { ...parsed.data, name };
  }
}
