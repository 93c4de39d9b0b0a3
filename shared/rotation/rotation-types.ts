import type { BrokerError } from "../errors/broker-error.js";
import type { ErrorCode } from "../errors/codes.js";
import { ConflictError, type ConflictReason } from "../errors/conflict-error.js";
import type { ErrorRecord } from "./journal.js";

/**
 * What rotation reports to operators (admin routes, the maintenance log). Metadata only: key ids
 * (the partner's public identifiers), fingerprints and times — never a secret.
 */

export type RotationMode = "partner-api" | "operator";

export type RotationOutcome =
  /** A new key was promoted (partner-api), possibly by finishing an interrupted run. */
  | "rotated"
  /** A new operator-written version passed the probe (or needed none) and is now served. */
  | "accepted"
  /** The newest operator-written version failed the probe; the previous one stays in use. */
  | "rejected"
  /** Nothing was due. */
  | "no_change"
  /** Automatic rotation is held back (see `reason`). */
  | "skipped"
  | "key_limit_reached"
  | "failed"
  /** Another run holds the lock. */
  | "locked"
  | "dry_run";

export interface RotationPlan {
  provider: string;
  mode: RotationMode;
  currentKeyId?: string;
  keyCreatedAt: string;
  nextDueAt: string;
  due: boolean;
  /** What a real run would do now, in order. */
  steps: string[];
  /** Set when the run would not rotate although asked or due. */
  blockedBy?: "needs_attention" | "previous_pending" | "key_limit_reached" | "current_key_not_listed";
  openPhase?: string;
  keysAtPartner?: number;
  maxKeys?: number;
  ownOrphans?: string[];
  foreignKeys?: number;
  pendingVersion?: string;
}

export interface RotationResult {
  provider: string;
  mode: RotationMode;
  outcome: RotationOutcome;
  /** Short, log-safe descriptions of what happened, in order (e.g. "resumed:created", "retired:apk-1"). */
  actions: string[];
  reason?: string;
  keyId?: string;
  previousKeyId?: string;
  retireAt?: string;
  acceptedVersion?: string;
  plan?: RotationPlan;
  /** Set when the outcome is a failure: see rotationFailure. */
  error?: RotationFailure;
}

/** The code and caller-safe detail of the BrokerError a run failed with, and its reason if a conflict. */
export interface RotationFailure {
  code: ErrorCode;
  detail: string;
  reason?: ConflictReason;
}

export function rotationFailure(error: BrokerError): RotationFailure {
  const failure: RotationFailure = { code: error.code, detail: error.detail };
  if (error instanceof ConflictError) failure.reason = error.reason;
  return failure;
}

export interface RotationStatus {
  provider: string;
  mode: RotationMode;
  /** Partner key id (Basic user); absent for raw header keys. */
  keyId?: string;
  keyFingerprint: string;
  keyCreatedAt: string;
  keyAgeSec: number;
  previousKeyId?: string;
  retireAt?: string;
  phase: string;
  nextDueAt: string;
  failures: number;
  needsAttention: boolean;
  stale?: boolean;
  maxAgeDays?: number;
  acceptedVersion?: string;
  pendingVersion?: string;
  lastError?: ErrorRecord;
}
