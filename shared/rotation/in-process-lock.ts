import type { Clock } from "../clock.js";
import type { Lock, LockLease } from "./lock.js";

interface Grant {
  token: number;
  expiresAt: number;
}

/**
 * Lock for one process (the Redis lock replaces it in a fleet). A lease expires after its TTL so a
 * holder that hung cannot block rotations forever; the fencing token lets the stalled holder find
 * out (stillHeld() is false) before it writes anything.
 */
export class InProcessLock implements Lock {
  private readonly grants = new Map<string, Grant>();
  private nextToken = 1;

  constructor(private readonly clock: Clock) {}

  async tryAcquire(name: string, ttlMs: number): Promise<LockLease | undefined> {
    const now = this.clock.now();
    const current = this.grants.get(name);
    if (current !== undefined && current.expiresAt > now) return undefined;
    const token = this.nextToken++;
    this.grants.set(name, { token, expiresAt: now + ttlMs });
    return {
      name,
      fencingToken: token,
      stillHeld: async () => {
        const grant = this.grants.get(name);
        return grant !== undefined && grant.token === token && grant.expiresAt > this.clock.now();
      },
      release: async () => {
        // Only the current holder may release: a stale holder must not free its successor's lease.
        if (this.grants.get(name)?.token === token) this.grants.delete(name);
      },
    };
  }
}
