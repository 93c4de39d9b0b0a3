import { createHash } from "node:crypto";

export interface CacheKeyParts {
  /** Every configuration value that changes the credential (never a secret value). */
  params: unknown;
  /** `name@version` of every secret read: a new version gives a new key, so it is served without a restart. */
  versions: readonly string[];
}

/**
 * `${provider}:${16 hex of SHA-256}`. Keys are compared across a fleet (shared cache), so the hash is
 * of a canonical form: object keys sorted, versions sorted, independent of read order.
 */
export function computeCacheKey(provider: string, parts: CacheKeyParts): string {
  const canonical = canonicalJson({ params: parts.params, versions: [...parts.versions].sort() });
  return `${provider}:${createHash("sha256").update(canonical).digest("hex").slice(0, 16)}`;
}

/** JSON with object keys sorted at every level; `undefined` members are dropped as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? "null";
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/**
 * The cache keys of one source. Its parameters are configuration, fixed for the life of the
 * process, so a key is hashed once per set of secret versions instead of on every request (the
 * hot path calls prepare() for each cache hit).
 */
export class SourceCacheKeys {
  private readonly known = new Map<string, string>();

  constructor(private readonly provider: string) {}

  /** `params` is only evaluated when these versions were not seen before. */
  for(versions: readonly string[], params: () => unknown): string {
    const id = versions.join("\n");
    let key = this.known.get(id);
    if (key === undefined) {
      // Versions change only on rotation; the bound just keeps a pathological store finite.
      if (this.known.size >= 64) this.known.clear();
      key = computeCacheKey(this.provider, { params: params(), versions });
      this.known.set(id, key);
    }
    return key;
  }
}
