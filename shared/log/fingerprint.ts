import { createHash } from "node:crypto";

/**
 * A short, stable, non-reversible identifier for a secret or token, for logs and status output.
 * 12 hex chars of SHA-256: enough to correlate, far too little to guess a 128-bit secret from.
 */
export function fingerprint(value: string): string {
  return "sha256:" + createHash("sha256").update(value).digest("hex").slice(0, 12);
}
