/** One version of a vault key, as listed (no key material). */
export interface KeyVersionInfo {
  version: string;
  createdOn: number;
  enabled: boolean;
}

export interface SigningKeyPolicy {
  /** A version is published this long before it signs (the partner's JWKS cache time). */
  publishOverlapMs: number;
  /** How long an assertion signed by a replaced version may still be presented (lifetime + skew). */
  inUseMs: number;
  /** Present when the broker rotates the key: a new version this long after the newest one. */
  intervalMs?: number;
}

export interface SigningKeyPlan {
  /** The version that signs now. */
  signing: string | undefined;
  /** Versions /api/jwks publishes: pre-published next, current, and previous still in use. */
  publish: string[];
  /** Time to create a new version (rotation only). */
  create: boolean;
  /** Previous versions no assertion can still use: disabled by rotation, unpublished either way. */
  retire: string[];
}

/**
 * The one decision over a key's observed versions, used by signing, /api/jwks and rotation alike
 * (dry run included). Everything derives from the vault's own state, so a crash between two steps
 * of a rotation leaves nothing to resume: the next run decides again from what the vault holds.
 * - a version signs once it has been published for the overlap (the newest such version);
 * - until then the previous one keeps signing;
 * - a version stays published until its successor has signed for longer than an assertion lives.
 */
export function planSigningKeys(versions: readonly KeyVersionInfo[], now: number, policy: SigningKeyPolicy): SigningKeyPlan {
  const enabled = versions.filter((v) => v.enabled).sort((a, b) => b.createdOn - a.createdOn);
  const signsFrom = (v: KeyVersionInfo) => v.createdOn + policy.publishOverlapMs;
  const ready = enabled.findIndex((v) => signsFrom(v) <= now);
  // Nothing published long enough (a brand-new key): the oldest enabled version has been out longest.
  const signingIndex = ready === -1 ? enabled.length - 1 : ready;
  const signingVersion = enabled[signingIndex];
  const publish: string[] = [];
  const retire: string[] = [];
  for (const [i, v] of enabled.entries()) {
    if (i <= signingIndex) {
      publish.push(v.version);
      continue;
    }
    // Older than the signing version: in use until its successor has signed for inUseMs.
    const successor = enabled[i - 1]!;
    (signsFrom(successor) + policy.inUseMs > now ? publish : retire).push(v.version);
  }
  const newest = enabled[0];
  const create = policy.intervalMs !== undefined && (newest === undefined || now - newest.createdOn >= policy.intervalMs);
  return { signing: signingVersion?.version, publish, create, retire };
}
