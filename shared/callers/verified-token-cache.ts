import type { Clock } from "../clock.js";
import { evictOldest } from "../evict-oldest.js";

/** Characters of the token's end used as cache key: 258 bits of signature in base64url. */
const CACHE_KEY_CHARS = 43;

/**
 * Verified Authorization headers by the tail of their signature, each kept until its `exp`, so the
 * hot path (the same service token on thousands of requests per second) costs one Map lookup and
 * one comparison instead of a signature verification. Hashing a whole ~1 KB header for a Map
 * lookup cost more than the rest of a cache hit; the tail is unique to a token in practice, and a
 * hit is only served after the whole header compares equal (`===`, a memcmp, where `endsWith`
 * walked ~700 characters one by one), so a collision is merely a miss.
 */
export class VerifiedTokenCache<T extends { readonly expiresAt: number }> {
  private readonly entries = new Map<string, { authorization: string; value: T }>();

  /** `maxSize` 0 turns the cache off. */
  constructor(
    private readonly clock: Clock,
    private readonly maxSize: number,
  ) {}

  /** What was stored for this header while its exp has not passed; undefined otherwise. */
  get(authorization: string): T | undefined {
    const key = authorization.slice(-CACHE_KEY_CHARS);
    const hit = this.entries.get(key);
    // Only accepted headers are stored, so equality covers the scheme check too; the same token
    // under another spelling of the scheme ("bearer ") is the rare, slower case.
    if (hit === undefined) return undefined;
    if (hit.authorization !== authorization && !sameTokenOtherScheme(hit.authorization, authorization)) return undefined;
    if (this.clock.now() < hit.value.expiresAt) return hit.value;
    // Past exp: drop it; the caller then answers exactly what an uncached verify gives.
    this.entries.delete(key);
    return undefined;
  }

  /** Stores an accepted header; the oldest entry makes room when the cache is full. */
  set(authorization: string, value: T): void {
    // A token accepted only thanks to clock tolerance is not cached: the hit check uses exp alone.
    if (this.maxSize <= 0 || this.clock.now() >= value.expiresAt) return;
    evictOldest(this.entries, this.maxSize - 1); // room for the one added below
    this.entries.set(authorization.slice(-CACHE_KEY_CHARS), { authorization, value });
  }
}

/** `Bearer ` followed by something; the scheme is case-insensitive (RFC 9110), the common spelling is checked first. */
export function hasBearerScheme(authorization: string): boolean {
  if (authorization.length < 8) return false;
  return authorization.startsWith("Bearer ") || authorization.slice(0, 7).toLowerCase() === "bearer ";
}

function sameTokenOtherScheme(stored: string, authorization: string): boolean {
  return stored.length === authorization.length && hasBearerScheme(authorization) && stored.slice(7) === authorization.slice(7);
}
