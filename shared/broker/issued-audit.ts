import type { LogFields } from "../log/logger.js";
import type { IssuedCredential } from "../providers/credential.js";
import type { CacheOutcome } from "../tokens/local-cache.js";

/**
 * The fields of a `token_issued` audit line. Everything in them is fixed for a credential's life
 * (the expiry is `expires_at`, not a countdown), so each (outcome, provider, caller) gets one
 * frozen object per credential: the logger serializes it once, and a cache hit allocates nothing
 * for its audit line but the line itself; `firstServed` runs once per (credential, caller). Bounded: callers reaching this point are configured ones.
 */
const byCredential = new WeakMap<IssuedCredential, Map<string, Partial<Record<CacheOutcome, LogFields>>>>();

export function issuedAuditFields(
  caller: string,
  provider: string,
  outcome: CacheOutcome,
  credential: IssuedCredential,
  firstServed?: (caller: string, provider: string, credential: IssuedCredential) => void,
): LogFields {
  let byCaller = byCredential.get(credential);
  if (byCaller === undefined) {
    byCaller = new Map();
    byCredential.set(credential, byCaller);
  }
  // Nested lookups, no composite key: building and hashing one string per hit costs more.
  let byOutcome = byCaller.get(caller);
  if (byOutcome === undefined) {
    byOutcome = {};
    byCaller.set(caller, byOutcome);
    // The first time this caller gets this credential: the one moment worth recording it.
    firstServed?.(caller, provider, credential);
  }
  let fields = byOutcome[outcome];
  // A credential belongs to one provider; the check keeps a mix-up from ever logging the wrong one.
  if (fields === undefined || fields.provider !== provider) {
    fields = Object.freeze({
      caller,
      provider,
      cache: outcome,
      fingerprint: credential.fingerprint,
      expires_at: new Date(credential.expiresAt).toISOString(),
    });
    byOutcome[outcome] = fields;
  }
  return fields;
}
