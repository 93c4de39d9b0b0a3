import type { Random } from "../clock.js";
import type { CachePolicy } from "../config/provider-base-schema.js";
import type { IssuedCredential } from "../providers/credential.js";

export type RefreshPolicy = Pick<CachePolicy, "refreshAheadFraction" | "refreshFloorSec" | "jitterSec">;

/**
 * When a cached credential should be refreshed in the background (epoch ms).
 *
 * target = issuedAt + lifetime * refreshAheadFraction, but no later than expiresAt - refreshFloorSec;
 * then minus random() * jitterSec so a fleet does not refresh in lockstep.
 *
 * Short lifetimes: a floor larger than the lifetime would put the refresh at issuedAt, so every
 * request would start a new partner call. Instead the floor may pull the target forward to at most
 * half of the refresh-ahead point, and the jitter may take at most half of what is left. The result
 * always lies strictly between issuedAt and expiresAt (for a positive lifetime), so a credential is
 * always used for a while before it is replaced and is always replaced before it expires.
 */
export function computeRefreshAt(
  credential: Pick<IssuedCredential, "issuedAt" | "expiresAt">,
  policy: RefreshPolicy,
  random: Random,
): number {
  const { issuedAt, expiresAt } = credential;
  const lifetime = expiresAt - issuedAt;
  // Written so NaN also lands here: nothing sensible to schedule, refresh whenever asked.
  if (!(lifetime > 0)) return issuedAt;
  const ahead = lifetime * policy.refreshAheadFraction;
  const beforeFloor = lifetime - policy.refreshFloorSec * 1000;
  const target = Math.max(Math.min(ahead, beforeFloor), ahead / 2);
  const spread = Math.min(policy.jitterSec * 1000, target / 2);
  const raw = random();
  const r = raw > 0 ? Math.min(raw, 1) : 0; // also maps NaN to 0
  return issuedAt + Math.floor(target - r * spread);
}
