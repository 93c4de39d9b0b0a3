/**
 * Mutual exclusion for rotations (one per provider at a time, timer or operator). In-process now;
 * the Redis implementation makes it fleet-wide. The fencing token grows with every grant so a
 * holder that stalled past its TTL can be told apart from the current one.
 */
export interface LockLease {
  readonly name: string;
  readonly fencingToken: number;
  /** False once the lease has expired or been taken over. */
  stillHeld(): Promise<boolean>;
  release(): Promise<void>;
}

export interface Lock {
  /** Returns undefined when someone else holds the lock. Never waits. */
  tryAcquire(name: string, ttlMs: number): Promise<LockLease | undefined>;
}
