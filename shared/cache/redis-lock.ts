import type { Clock } from "../clock.js";
import type { Logger } from "../log/logger.js";
import type { Lock, LockLease } from "../rotation/lock.js";
import { acquireLease, leaseRemaining, releaseLease } from "./fenced-lease.js";
import type { RedisConnection } from "./redis-connection.js";
import { RedisKeys } from "./redis-keys.js";

export interface RedisLockOptions {
  connection: RedisConnection;
  clock: Clock;
  logger: Logger;
  keys?: RedisKeys;
}

/**
 * The fleet-wide rotation lock. When Redis cannot be reached nobody gets the lock: skipping a
 * rotation is harmless (the timer tries again), two concurrent rotations of a partner key are
 * not. A lease also ends locally once its TTL has passed since the request was sent, so a
 * holder never trusts a lease Redis may already have expired.
 */
export class RedisLock implements Lock {
  private readonly keys: RedisKeys;

  constructor(private readonly options: RedisLockOptions) {
    this.keys = options.keys ?? new RedisKeys();
  }

  async tryAcquire(name: string, ttlMs: number): Promise<LockLease | undefined> {
    const { connection, clock, logger } = this.options;
    const lockKey = this.keys.lock(name);
    const requestedAt = clock.now();
    const result = await acquireLease(connection, "lock_acquire", lockKey, this.keys.lockFence(name), ttlMs);
    if (!result.ok) {
      logger.log("warn", "lock_unavailable", { lock: name });
      return undefined;
    }
    if (!result.value.acquired) return undefined;
    const token = result.value.token;
    const localDeadline = requestedAt + ttlMs;
    let released = false;
    logger.log("info", "lock_acquired", { lock: name, fencing_token: token });
    return {
      name,
      fencingToken: token,
      stillHeld: async () => {
        if (released || clock.now() >= localDeadline) return false;
        const remaining = await leaseRemaining(connection, "lock_check", lockKey, token);
        return remaining !== undefined && remaining > 0;
      },
      release: async () => {
        if (released) return;
        released = true;
        // Compare-and-delete: a holder whose lease expired must not free its successor's.
        await releaseLease(connection, "lock_release", lockKey, token);
        logger.log("info", "lock_released", { lock: name, fencing_token: token });
      },
    };
  }
}
