import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";
import { SecretNotFoundError, type SecretStore } from "../secrets/secret-store.js";

/**
 * The rotation journal: one secret per provider (`<keySecretName>-rotation`) written before and right
 * after every partner call that changes something, so a crash at any point leaves enough behind for
 * the next run to finish or undo the attempt. Between "created" and the promote it holds the new
 * key's secret, the only copy of it (the partner returns it once): it lives in the vault for that
 * reason and never leaves as a log line or status field.
 */
const IsoTime = z.iso.datetime({ offset: true });

export const ErrorRecordSchema = z.object({
  code: z.string().min(1),
  /** A BrokerError detail: written by the broker, never a secret or a partner body. */
  detail: z.string(),
  at: IsoTime,
});
export type ErrorRecord = z.infer<typeof ErrorRecordSchema>;

export const PARTNER_PHASES = ["idle", "creating", "created", "verified", "done", "retiring", "retired"] as const;
export type PartnerPhase = (typeof PARTNER_PHASES)[number];
/** Phases a crash can leave behind that the next run must continue. */
export const OPEN_PHASES: readonly PartnerPhase[] = ["creating", "created", "verified", "retiring"];

const common = {
  v: z.literal(1),
  failures: z.number().int().min(0).default(0),
  needsAttention: z.boolean().default(false),
  lastError: ErrorRecordSchema.optional(),
  updatedAt: IsoTime,
  /** Fencing token of the lease under which this version was written (diagnostics). */
  fencingToken: z.number().int().optional(),
};

export const PartnerJournalSchema = z.object({
  mode: z.literal("partner-api"),
  phase: z.enum(PARTNER_PHASES),
  rotationId: z.string().min(1).optional(),
  /** Name given to the key being created: finds it at the partner when the create's answer was lost. */
  markerName: z.string().min(1).optional(),
  oldKeyId: z.string().min(1).optional(),
  /** Only in "created" and "verified". */
  newKey: z.object({ id: z.string().min(1), secret: z.string().min(1) }).optional(),
  newKeyId: z.string().min(1).optional(),
  retireAt: IsoTime.optional(),
  retireKeyId: z.string().min(1).optional(),
  /** Orphans being deleted by a sweep (ids only). */
  sweeping: z.array(z.string()).optional(),
  lastRotatedAt: IsoTime.optional(),
  ...common,
});
export type PartnerJournal = z.infer<typeof PartnerJournalSchema>;

export const OperatorJournalSchema = z.object({
  mode: z.literal("operator"),
  /** The key secret version that passed the probe (or was accepted without one). */
  acceptedVersion: z.string().min(1).optional(),
  acceptedAt: IsoTime.optional(),
  /** True when a probe guards acceptance: the api-key source must then serve `acceptedVersion`. */
  pinned: z.boolean().default(false),
  rejectedVersion: z.string().min(1).optional(),
  ...common,
});
export type OperatorJournal = z.infer<typeof OperatorJournalSchema>;

export const RotationJournalSchema = z.discriminatedUnion("mode", [PartnerJournalSchema, OperatorJournalSchema]);
export type RotationJournal = z.infer<typeof RotationJournalSchema>;

export function journalSecretName(keySecretName: string): string {
  return `${keySecretName}-rotation`;
}

export function parseJournal(value: string, secretName: string): RotationJournal {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw corrupt(secretName);
  }
  const parsed = RotationJournalSchema.safeParse(raw);
  if (!parsed.success) throw corrupt(secretName);
  return parsed.data;
}

/** The journal of a key secret, or undefined when no rotation ever ran. */
export async function readJournal(secrets: SecretStore, keySecretName: string): Promise<RotationJournal | undefined> {
  const name = journalSecretName(keySecretName);
  try {
    return parseJournal((await secrets.get(name)).value, name);
  } catch (error) {
    if (error instanceof SecretNotFoundError) return undefined;
    throw error;
  }
}

/**
 * Which version of the key secret the api-key source must serve: undefined means "the latest".
 * Only an operator-rotated key guarded by a probe is pinned; a partner-api rotation writes the key
 * secret only after the new key was verified, so its latest version is always the one to use.
 */
export function acceptedVersion(journal: RotationJournal | undefined): string | undefined {
  if (journal?.mode !== "operator" || !journal.pinned) return undefined;
  return journal.acceptedVersion;
}

/**
 * The journal after a failed attempt: the error recorded and, when the failure `counts` as a failed
 * rotation attempt, one more failure; automatic rotation stops (needsAttention) at `maxFailures`.
 */
export function withFailure<J extends RotationJournal>(journal: J, lastError: ErrorRecord, counts: boolean, maxFailures: number): J {
  const failures = journal.failures + (counts ? 1 : 0);
  return { ...journal, failures, needsAttention: journal.needsAttention || failures >= maxFailures, lastError };
}

function corrupt(secretName: string): BrokerError {
  // No cause and no zod issues: the journal may hold a key secret and zod can echo input.
  return new BrokerError("secret_unavailable", `Rotation journal "${secretName}" is not valid; an operator must repair or delete it.`);
}
