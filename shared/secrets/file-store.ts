import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Clock } from "../clock.js";
import { BrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "./secret-store.js";
import { assertSecretName, assertSecretVersion, SECRET_VERSION_PATTERN } from "./secret-name.js";

export interface FileSecretStoreDeps {
  clock: Clock;
  /** Receives a warning for every unreadable version file. */
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

/** `<createdOn ms>-<seq>-<version>.json`; anything else in the directory (temp files) is ignored. */
const VERSION_FILE = /^(\d+)-(\d+)-([0-9a-f]{32})\.json$/;

interface VersionFile {
  file: string;
  createdOn: number;
  seq: number;
  version: string;
}

/**
 * The local secret store used when no Key Vault is configured (demo, dev, a local fleet).
 *
 * Layout: `<dir>/<lower-case name>/<createdOn>-<seq>-<version>.json`, one immutable file per
 * version. A version is written to a temp file, fsynced and renamed into place, so readers never
 * see a partial file and several processes can write the same secret at once without a
 * read-modify-write: each write creates its own file, nothing is ever overwritten, and "latest"
 * is simply the highest (createdOn, seq, version), and it is authoritative: a corrupt, disabled or
 * vanished newest version is `secret_unavailable`, never answered with an older version. Names are lower-cased on disk because Key Vault
 * names are case-insensitive. Directories are 0700 and files 0600.
 */
export class FileSecretStore implements SecretStore {
  private readonly logger: Logger | undefined;
  private readonly clock: Clock;
  private root: Promise<void> | undefined;
  /** Lower-cased names this store has returned a latest version of (bounded by the names in the config). */
  private readonly served = new Set<string>();

  constructor(
    private readonly dir: string,
    deps: FileSecretStoreDeps,
  ) {
    this.clock = deps.clock;
    this.logger = deps.logger;
  }

  async get(name: string, version?: string): Promise<SecretVersion> {
    assertSecretName(name);
    if (version !== undefined) assertSecretVersion(version);
    const files = await this.versionFiles(name);
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
    const secretDir = await this.secretDir(name, true);

    // Keep versions ordered even when the clock repeats (same millisecond, manual clocks) or steps
    // back: never sort before the newest version already on disk. Two truly concurrent writers may
    // pick the same (createdOn, seq); their random versions still give two distinct files.
    const files = await this.versionFiles(name);
    const newest = files.at(-1);
    let createdOn = this.clock.now();
    let seq = 0;
    if (newest && newest.createdOn >= createdOn) {
      createdOn = newest.createdOn;
      seq = newest.seq + 1;
    }
    const secret: SecretVersion = {
      name,
      version: randomBytes(16).toString("hex"),
      value,
      tags: { ...parsedTags.data },
      createdOn,
      enabled: true,
    };
    const fileName = `${String(createdOn).padStart(15, "0")}-${String(seq).padStart(6, "0")}-${secret.version}.json`;
    await this.writeAtomically(secretDir, fileName, JSON.stringify(secret));
    return { ...secret, tags: { ...secret.tags } };
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    assertSecretName(name);
    const files = await this.versionFiles(name);
    const secrets = await Promise.all(files.map((f) => this.readVersion(name, f)));
    const infos: SecretVersionInfo[] = [];
    for (const secret of secrets) {
      if (!secret) continue;
      const { value: _value, ...info } = secret;
      infos.push(info);
    }
    return infos;
  }

  /** Version files of a secret, oldest first; empty when the secret was never written. */
  private async versionFiles(name: string): Promise<VersionFile[]> {
    const secretDir = await this.secretDir(name, false);
    let entries: string[];
    try {
      entries = await readdir(secretDir);
    } catch (error) {
      if (isErrno(error, "ENOENT")) return [];
      throw unavailable("list", error);
    }
    const files: VersionFile[] = [];
    for (const file of entries) {
      const match = VERSION_FILE.exec(file);
      if (match) files.push({ file, createdOn: Number(match[1]), seq: Number(match[2]), version: match[3]! });
    }
    return files.sort(compareVersionFiles);
  }

  /** A corrupt or foreign file is undefined, with a warning that never quotes it. */
  private async readVersion(name: string, file: VersionFile): Promise<SecretVersion | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, name.toLowerCase(), file.file), "utf8");
    } catch (error) {
      throw unavailable("read", error);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const parsed = StoredSecretSchema.safeParse(raw);
    if (!parsed.success || parsed.data.version !== file.version || parsed.data.name.toLowerCase() !== name.toLowerCase()) {
      this.logger?.log("warn", "secret_file_corrupt", { secret: name, file: file.file });
      return undefined;
    }
    return { ...parsed.data, name };
  }

  private async secretDir(name: string, create: boolean): Promise<string> {
    this.root ??= ensurePrivateDir(this.dir).catch((error: unknown) => {
      this.root = undefined; // let a later call retry, e.g. after an operator fixed the permissions
      throw unavailable("open", error);
    });
    await this.root;
    const secretDir = join(this.dir, name.toLowerCase());
    if (create) {
      try {
        await ensurePrivateDir(secretDir);
      } catch (error) {
        throw unavailable("create", error);
      }
    }
    return secretDir;
  }

  private async writeAtomically(dir: string, fileName: string, content: string): Promise<void> {
    // Dot-prefixed temp names never match VERSION_FILE, so readers ignore half-written files.
    const tmp = join(dir, `.tmp-${randomBytes(8).toString("hex")}`);
    try {
      const handle = await open(tmp, "wx", 0o600);
      try {
        await handle.writeFile(content, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, join(dir, fileName));
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      this.logger?.log("error", "secret_file_write_failed", { file: fileName, ...errorFields(error) });
      throw unavailable("write", error);
    }
    await syncDir(dir);
  }
}

/**
 * Why `dir` cannot be the store's directory, checked once at start-up: a path that exists and is
 * not a directory would otherwise surface as secret_unavailable on every request. A directory
 * that does not exist yet is fine (created on first write).
 */
export function localDirProblem(dir: string): string | undefined {
  try {
    return statSync(dir).isDirectory() ? undefined : `"${dir}" exists and is not a directory`;
  } catch (error) {
    return isErrno(error, "ENOENT") ? undefined : `"${dir}" cannot be inspected (${String((error as { code?: unknown }).code ?? "error")})`;
  }
}

function compareVersionFiles(a: VersionFile, b: VersionFile): number {
  return a.createdOn - b.createdOn || a.seq - b.seq || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0);
}

/** Creates the directory 0700, and tightens an existing one that group or others could read. */
async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform === "win32") return; // POSIX modes mean nothing there
  const info = await stat(dir);
  if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/** Makes the rename durable; best effort because not every platform can fsync a directory. */
async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability of the directory entry is a bonus; the data file itself was fsynced.
  }
}

function isErrno(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}

function unavailable(operation: string, cause: unknown): BrokerError {
  return new BrokerError("secret_unavailable", `The local secret store could not ${operation} a secret file.`, { cause });
}
