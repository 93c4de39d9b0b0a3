/**
 * Redis key layout of the shared cache. Every key of a provider carries the provider as a hash
 * tag (`{provider}`), so the Lua scripts that touch a value, its provider index and its flight
 * lock together stay within one slot should the cache ever run on a clustered Redis.
 */
export const DEFAULT_KEY_PREFIX = "broker:";

/** Cache keys are `${provider}:${hash}` (see providers/cache-key.ts); the provider is the part before the first colon. */
export function providerOfCacheKey(cacheKey: string): string {
  const colon = cacheKey.indexOf(":");
  return colon < 0 ? cacheKey : cacheKey.slice(0, colon);
}

export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {}

  /** The encrypted credential for one cache key. */
  credential(cacheKey: string): string {
    return `${this.prefix}{${providerOfCacheKey(cacheKey)}}:cred:${cacheKey}`;
  }

  /** Set of the credential keys written for a provider, so all of them can be dropped at once. */
  providerIndex(provider: string): string {
    return `${this.prefix}{${provider}}:index`;
  }

  /** The fleet single-flight lock of one cache key. */
  flightLock(cacheKey: string): string {
    return `${this.prefix}{${providerOfCacheKey(cacheKey)}}:flight:${cacheKey}`;
  }

  /** The last failed flight of one cache key (error code and fencing token only). */
  flightFailure(cacheKey: string): string {
    return `${this.prefix}{${providerOfCacheKey(cacheKey)}}:flight-failure:${cacheKey}`;
  }

  /** Fencing counter of a provider's flights: never expires, so tokens only grow. */
  flightFence(cacheKey: string): string {
    return `${this.prefix}{${providerOfCacheKey(cacheKey)}}:fence`;
  }

  /** Channel on which flight holders announce completion. */
  flightChannel(): string {
    return `${this.prefix}flights`;
  }

  /** Channel of provider invalidations. */
  invalidationChannel(): string {
    return `${this.prefix}invalidations`;
  }

  /** A named lock (rotation) and its fencing counter. */
  lock(name: string): string {
    return `${this.prefix}lock:{${name}}`;
  }

  lockFence(name: string): string {
    return `${this.prefix}lock:{${name}}:fence`;
  }

  /** One instance's heartbeat (fleet status); all heartbeat keys share one hash slot with their index. */
  heartbeat(instanceId: string): string {
    return `${this.prefix}{heartbeats}:${instanceId}`;
  }

  /** Sorted set of instance ids by last heartbeat time. */
  heartbeatIndex(): string {
    return `${this.prefix}{heartbeats}:index`;
  }
}
