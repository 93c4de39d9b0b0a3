import type { Clock, Sleeper } from "../clock.js";
import type { AuditConfig } from "../config/observability-schema.js";
import type { LogFields, Logger } from "../log/logger.js";
import type { IssuedCredential } from "../providers/credential.js";
import type { CacheOutcome } from "../tokens/local-cache.js";

export interface IssuedAuditTrailDeps {
  logger: Logger;
  clock: Clock;
  /** Arms the summary interval; aborted by flush() and close(). */
  sleeper: Sleeper;
  config: AuditConfig;
}

interface PendingSummary {
  readonly fields: LogFields;
  count: number;
  readonly firstAt: number;
  lastAt: number;
}

/**
 * The audit of issued credentials. In `per-hit` mode every issuance writes a `token_issued` line.
 * In `summary` mode the first issuance of a credential to a caller writes that line at once, and
 * later ones are counted per (caller, credential, cache outcome) and written as one
 * `token_issued_summary` line per interval, with the count and the first and last time. Both
 * kinds of line carry caller, provider, cache outcome and fingerprint, so every issuance is
 * accounted for: token_issued lines plus the sum of summary counts.
 *
 * Memory is bounded: the callers already audited per credential live in a WeakMap that dies with
 * the credential, and the pending counters are capped (`maxTrackedPairs`); reaching the cap writes
 * every pending summary early. `flush()` writes what is pending (graceful stop, process exit).
 */
export class IssuedAuditTrail {
  /** Callers a credential was issued to already; dies with the credential. */
  private readonly issuedTo = new WeakMap<IssuedCredential, Set<string>>();
  /** One counter per (provider, credential, caller, cache outcome). */
  private pending = new Map<string, PendingSummary>();
  private timer: AbortController | undefined;
  private closed = false;
  private readonly summaries: boolean;
  private readonly intervalMs: number;
  private readonly maxPairs: number;

  constructor(private readonly deps: IssuedAuditTrailDeps) {
    this.summaries = deps.config.mode === "summary";
    this.intervalMs = deps.config.summaryIntervalSec * 1000;
    this.maxPairs = deps.config.maxTrackedPairs;
  }

  /** `firstServed` runs once per (credential, caller): the served ledger of rejected-credential reports. */
  issued(
    caller: string,
    provider: string,
    outcome: CacheOutcome,
    credential: IssuedCredential,
    firstServed?: (caller: string, provider: string, credential: IssuedCredential) => void,
  ): void {
    const first = this.isFirst(caller, credential);
    if (first) firstServed?.(caller, provider, credential);
    if (!this.summaries || this.closed || first) {
      this.deps.logger.log("info", "token_issued", auditFields(caller, provider, outcome, credential));
      return;
    }
    const now = this.deps.clock.now();
    const key = `${provider}\n${credential.fingerprint}\n${caller}\n${outcome}`;
    const known = this.pending.get(key);
    if (known !== undefined) {
      known.count++;
      known.lastAt = now;
      return;
    }
    if (this.pending.size >= this.maxPairs) this.flush();
    this.pending.set(key, { fields: auditFields(caller, provider, outcome, credential), count: 1, firstAt: now, lastAt: now });
    this.arm();
  }

  /** Writes every pending summary now. Synchronous, so it also runs in a process "exit" handler. */
  readonly flush = (): void => {
    this.timer?.abort();
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    for (const p of pending.values()) {
      this.deps.logger.log("info", "token_issued_summary", {
        ...p.fields,
        count: p.count,
        first_at: new Date(p.firstAt).toISOString(),
        last_at: new Date(p.lastAt).toISOString(),
      });
    }
  };

  /** Writes what is pending; later issuances (during shutdown) are written one line each. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Number of pending summaries (status and tests). */
  get trackedPairs(): number {
    return this.pending.size;
  }

  private isFirst(caller: string, credential: IssuedCredential): boolean {
    let callers = this.issuedTo.get(credential);
    if (callers === undefined) {
      callers = new Set();
      this.issuedTo.set(credential, callers);
    }
    if (callers.has(caller)) return false;
    callers.add(caller);
    return true;
  }

  /** One timer at a time, armed by the first pending count after a flush. */
  private arm(): void {
    if (this.timer !== undefined) return;
    const timer = new AbortController();
    this.timer = timer;
    this.deps.sleeper.sleep(this.intervalMs, timer.signal).then(
      () => {
        if (this.timer === timer) this.flush();
      },
      () => undefined,
    );
  }
}

/** What every issuance line says: no credential value, its fingerprint and fixed expiry instead. */
function auditFields(caller: string, provider: string, outcome: CacheOutcome, credential: IssuedCredential): LogFields {
  return { caller, provider, cache: outcome, fingerprint: credential.fingerprint, expires_at: new Date(credential.expiresAt).toISOString() };
}
