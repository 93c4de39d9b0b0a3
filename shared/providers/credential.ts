import type { UpstreamCaller } from "../upstream/upstream-caller.js";

/**
 * What a token source produces and what `GET /api/token/{provider}` serves. `headers` is the
 * complete set of headers a caller must send to the partner.
 */
export interface IssuedCredential {
  tokenType: string;
  /** Absent for static credentials whose secret lives only in `headers` (API keys). */
  accessToken?: string;
  headers: Record<string, string>;
  /** Epoch ms when the partner stops accepting it (for static keys: the configured lifetime). */
  expiresAt: number;
  /** Epoch ms when it was obtained. */
  issuedAt: number;
  /** Fingerprint of the credential (token or key) for logs and status; never the value. */
  fingerprint: string;
}

/**
 * The secrets a source read, resolved once per request from the (cached) secret store. `versionKey`
 * changes whenever any secret version changes, so it is part of the cache key: a new key version
 * in the store produces a new credential without a restart.
 */
export interface PreparedSource {
  /** Stable cache key: provider name + hash of every parameter and secret version involved. */
  cacheKey: string;
  /** Fetch a new credential from the partner (or build it, for static keys). */
  issue(options: IssueOptions): Promise<IssuedCredential>;
}

export interface IssueOptions {
  /** True for operator-forced refreshes: no SDK-internal cache may answer. */
  force: boolean;
  signal?: AbortSignal;
}

export interface TokenSource {
  readonly provider: string;
  /** Reads the secrets (through the cache of the store) and returns the cache key and an issuer. */
  prepare(): Promise<PreparedSource>;
}

/**
 * Runs an issue's partner fetch through the provider's UpstreamCaller: a forced issue (operator
 * refresh) goes out at once, past a partner's Retry-After and an open breaker.
 */
export function issueThrough(
  caller: UpstreamCaller,
  options: IssueOptions,
  attempt: (signal: AbortSignal) => Promise<IssuedCredential>,
): Promise<IssuedCredential> {
  return caller.run(attempt, { signal: options.signal, immediate: options.force });
}
