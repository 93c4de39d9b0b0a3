import type { Random, Sleeper } from "../clock.js";
import { isBrokerError } from "../errors/broker-error.js";
import { ConflictError } from "../errors/conflict-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { SecretStore, SecretVersion } from "../secrets/secret-store.js";
import type { LockLease } from "./lock.js";
import { backoffDelay } from "../backoff.js";

/** Raised when the lease ran out or was taken over: the run stops without writing anything more. */
export class LeaseLostError extends ConflictError {
  constructor(provider: string) {
    super("lease_lost", `The rotation lock of "${provider}" was lost; another run continues from the journal.`);
  }
}

export interface WriteRetry {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Ordinary writes: a failure before a partner call just aborts the attempt. */
export const NORMAL_WRITE: WriteRetry = { attempts: 3, baseDelayMs: 250, maxDelayMs: 2000 };
/**
 * Writes that hold the only copy of a new key (journal "created", the promote): ride out a Key
 * Vault throttle or blip (the SDK does not retry a 429 without Retry-After) for ~15 s.
 */
export const CRITICAL_WRITE: WriteRetry = { attempts: 6, baseDelayMs: 500, maxDelayMs: 8000 };

/**
 * Every secret write of a rotation goes through here: it checks the lease first (a holder that
 * stalled past its TTL must not overwrite its successor's journal: Key Vault has no
 * compare-and-swap) and retries with jittered exponential back-off.
 */
export class LeasedWriter {
  constructor(
    private readonly deps: { secrets: SecretStore; sleeper: Sleeper; random: Random; logger: Logger },
    private readonly lease: LockLease,
    private readonly provider: string,
  ) {}

  get fencingToken(): number {
    return this.lease.fencingToken;
  }

  /** Throws LeaseLostError once the lease has run out or been taken over. */
  async ensureHeld(): Promise<void> {
    if (!(await this.lease.stillHeld())) throw new LeaseLostError(this.provider);
  }

  async write(name: string, value: string, tags: Record<string, string>, retry: WriteRetry): Promise<SecretVersion> {
    for (let attempt = 1; ; attempt++) {
      await this.ensureHeld();
      try {
        return await this.deps.secrets.set(name, value, tags);
      } catch (error) {
        if (!retryable(error) || attempt >= retry.attempts) throw error;
        this.deps.logger.log("warn", "rotation_write_retry", { provider: this.provider, secret: name, attempt, ...errorFields(error) });
        const policy = { baseMs: retry.baseDelayMs, maxMs: retry.maxDelayMs, jitter: "equal" } as const;
        await this.deps.sleeper.sleep(backoffDelay(policy, attempt, this.deps.random));
      }
    }
  }
}

/** Unexpected errors and store blips are retried; any other BrokerError (a lost lease among them) is final. */
function retryable(error: unknown): boolean {
  return !isBrokerError(error) || error.code === "secret_unavailable";
}
