import type { PartnerKey } from "./key-api.js";
import type { PartnerJournal } from "./journal.js";
import type { StoredKey } from "./stored-key.js";

/*
 * The decisions of partner-api rotation, as pure functions of what was observed (key secret,
 * journal, the partner's key list, the key ids tagged on key secret versions, the time). The run
 * (partner-run.ts) acts on them step by step; the dry run (PartnerRotation.plan) reports them from
 * the same observations without acting. Neither decides anything on its own.
 */

/**
 * The one protection rule: keys that must never be deleted — the current key, the previous one,
 * every key a key secret version was ever tagged with (`tagged`, read afresh before each delete:
 * a version written since the run began must protect its key) and, unless it is the key being
 * judged, the journal's in-flight new key. The tags protect on their own: leaving out the in-flight
 * key (its own rejection) never drops the protection a key secret version gives it.
 */
export function protectedKeyIds(key: StoredKey, journal: PartnerJournal, tagged: ReadonlySet<string>, options: { inFlight: boolean } = { inFlight: true }): Set<string> {
  const ids = new Set(tagged);
  ids.add(key.id);
  if (key.previous) ids.add(key.previous.id);
  if (options.inFlight && journal.newKey) ids.add(journal.newKey.id);
  return ids;
}

/** Keys named with this deployment's marker that nothing protects: deleted by the sweep. */
export function ownOrphans(keys: readonly PartnerKey[], marker: string, protectedIds: ReadonlySet<string>): PartnerKey[] {
  return keys.filter((k) => k.name?.startsWith(marker) === true && !protectedIds.has(k.id));
}

/** Whether the previous key is retired now: its grace period is over, or a retirement of it was interrupted. */
export function mustRetirePrevious(key: StoredKey, journal: PartnerJournal, now: number): boolean {
  const previous = key.previous;
  if (!previous) return false;
  const resuming = journal.phase === "retiring" && journal.retireKeyId === previous.id;
  return resuming || previous.retireAt <= now;
}

/** Whether a failure of this run counts as a failed rotation attempt (towards needs_attention). */
export function wantsRotation(manual: boolean, due: boolean, journal: PartnerJournal): boolean {
  return manual || (due && !journal.needsAttention);
}

export type RotationBlock = "not_due" | "needs_attention" | "previous_pending" | "key_limit_reached" | "current_key_not_listed";

export interface RotationFacts {
  /** An operator asked: rotate even if not due, even if automatic rotation stopped. */
  manual: boolean;
  due: boolean;
  needsAttention: boolean;
  /** A previous key is still in its grace period after the retire step. */
  previousPending: boolean;
  /** Keys left at the partner after the retire and sweep steps. */
  keysLeft: number;
  maxKeys: number;
  /** The partner lists the current key (its settings are copied to the new one). */
  currentListed: boolean;
}

/** Whether a new key is made now, once retire and sweep are done; otherwise what holds it back. */
export function rotationVerdict(facts: RotationFacts): "rotate" | RotationBlock {
  if (!facts.manual && !facts.due) return "not_due";
  if (!facts.manual && facts.needsAttention) return "needs_attention";
  if (facts.previousPending) return "previous_pending";
  if (facts.keysLeft >= facts.maxKeys) return "key_limit_reached";
  if (!facts.currentListed) return "current_key_not_listed";
  return "rotate";
}
