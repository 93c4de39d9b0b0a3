import { BrokerError, type BrokerErrorOptions } from "./broker-error.js";

/**
 * Which conflict a `conflict` (409) is. The code stays `conflict` for every one of them (public
 * contract); the reason is what tells them apart, in code and as the problem+json member `reason`.
 * Stable snake_case values: never rename one, only add.
 */
export type ConflictReason =
  /** Another run holds the provider's rotation lock. */
  | "rotation_running"
  /** The partner account holds its maximum number of keys. */
  | "key_limit_reached"
  /** The rotation lock ran out or was taken over during the run. */
  | "lease_lost"
  /** An unfinished partner-api rotation holds the journal that operator mode would overwrite. */
  | "journal_open"
  /** The previous key is in its grace period; a new rotation waits for its retirement. */
  | "previous_pending"
  /** Automatic rotation stopped after repeated failures until an operator rotates. */
  | "needs_attention";

/** A refusal answered as `conflict` (409), with the reason that says which. */
export class ConflictError extends BrokerError<"conflict"> {
  readonly reason: ConflictReason;

  constructor(reason: ConflictReason, detail: string, options?: BrokerErrorOptions) {
    super("conflict", detail, options);
    this.reason = reason;
  }
}

/** Whether `error` is the conflict with this reason (the one test of which conflict it is). */
export function isConflict(error: unknown, reason: ConflictReason): error is ConflictError {
  return error instanceof ConflictError && error.reason === reason;
}
