import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../clock.js";
import { BrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";

/** `<createdOn ms>-<seq>-<version>.json`; anything else in the directory (temp files) is ignored. */
const VERSION_FILE = /^(\d+)-(\d+)-([0-9a-f]{32})\.json$/;

/** Where a version's file sorts among its secret's files. */
export interface VersionSlot {
  createdOn: number;
  seq: number;
}

export interface VersionFile extends VersionSlot {
  file: string;
  version: string;
}

export interface SecretFilesDeps {
  clock: Clock;
  /** Receives an error line for every failed write. */
  logger?: Logger;
}

/**
 * The files of the local secret store. Layout: `<dir>/<lower-case name>/<createdOn>-<seq>-<version>.json`,
 * one immutable file per version. A version is written to a temp file, fsynced and renamed into
 * place, so readers never see a partial file and several processes can write the same secret at
 * once without a read-modify-write: each write creates its own file, nothing is ever overwritten,
 * and the newest version is simply the highest (createdOn, seq, version). Names are lower-cased on
 * disk because Key Vault names are case-insensitive. Directories are 0700 and files 0600. A file
 * system failure is `secret_unavailable`.
 */
export class SecretFiles {
  private root: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly deps: SecretFilesDeps,
  ) {}

  /** Version files of a secret, oldest first; empty when the secret was never written. */
  async list(name: string): Promise<VersionFile[]> {
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

  async read(name: string, file: VersionFile): Promise<string> {
    try {
      return await readFile(join(this.dir, name.toLowerCase(), file.file), "utf8");
    } catch (error) {
      throw unavailable("read", error);
    }
  }

  /**
   * Creates the secret's directory and picks where its next version sorts: now, unless the clock
   * repeats (same millisecond, manual clocks) or steps back, in which case never before the newest
   * version already on disk. Two truly concurrent writers may pick the same slot; their random
   * versions still give two distinct files.
   */
  async nextSlot(name: string): Promise<VersionSlot> {
    await this.secretDir(name, true);
    const newest = (await this.list(name)).at(-1);
    const now = this.deps.clock.now();
    if (newest && newest.createdOn >= now) return { createdOn: newest.createdOn, seq: newest.seq + 1 };
    return { createdOn: now, seq: 0 };
  }

  /** Writes one version's file atomically, into the directory `nextSlot` created. */
  async write(name: string, slot: VersionSlot, version: string, content: string): Promise<void> {
    const dir = join(this.dir, name.toLowerCase());
    const fileName = `${String(slot.createdOn).padStart(15, "0")}-${String(slot.seq).padStart(6, "0")}-${version}.json`;
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
      this.deps.logger?.log("error", "secret_file_write_failed", { file: fileName, ...errorFields(error) });
      throw unavailable("write", error);
    }
    await syncDir(dir);
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
