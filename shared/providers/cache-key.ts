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
