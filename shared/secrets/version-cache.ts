import { evictOldest } from "../evict-oldest.js";
import type { SecretVersion } from "./secret-store.js";

/**
 * Specific secret versions in memory. A version never changes once written, so an entry has no TTL
 * and is never refreshed; the cache is bounded instead, the oldest entry going first. The pending
 * read is kept at once, so concurrent reads of one version share one read; a failed read is not kept.
 */
export class VersionCache {
  /** Key `name/version`; insertion order doubles as eviction order. */
  private readonly entries = new Map<string, Promise<SecretVersion>>();

  constructor(
    private readonly read: (name: string, version: string) => Promise<SecretVersion>,
    private readonly maxVersions: number,
  ) {}

  get(name: string, version: string): Promise<SecretVersion> {
    const key = `${name}/${version}`;
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const pending = this.read(name, version);
    this.put(key, pending);
    pending.catch(() => {
      if (this.entries.get(key) === pending) this.entries.delete(key);
    });
    return pending;
  }

  /** Keeps a version read or written as the latest, so asking for it by version costs no read. */
  remember(name: string, version: string, secret: Promise<SecretVersion>): void {
    this.put(`${name}/${version}`, secret);
  }

  /** Drops one secret's versions, or every version. */
  invalidate(name?: string): void {
    if (name === undefined) {
      this.entries.clear();
      return;
    }
    const prefix = `${name}/`;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  private put(key: string, secret: Promise<SecretVersion>): void {
    this.entries.delete(key);
    this.entries.set(key, secret);
    evictOldest(this.entries, this.maxVersions);
  }
}
