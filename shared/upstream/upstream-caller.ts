import type { UpstreamPolicy } from "../config/schema.js";
import { BrokerError } from "../errors/broker-error.js";
import { errorFields } from "../log/logger.js";
import { CircuitBreaker } from "./circuit-breaker.js";
import { UpstreamFailure } from "./upstream-failure.js";
import type { Platform } from "../platform.js";

export type UpstreamCallerDeps = Platform;

/**
 * Runs one logical partner call: per-attempt timeout, bounded retries with full jitter on transient
 * failures (honouring Retry-After up to a cap), no retry on rejections, and a circuit breaker.
 * Errors leave as BrokerErrors with the public codes: upstream_rejected (502) or
 * upstream_unavailable (503 + Retry-After).
 */
export class UpstreamCaller {
  readonly breaker: CircuitBreaker;
  /** Epoch ms before which the partner asked not to be called again (its last Retry-After). */
  private notBefore = 0;

  constructor(
    readonly provider: string,
    private readonly policy: UpstreamPolicy,
    private readonly deps: UpstreamCallerDeps,
  ) {
    this.breaker = new CircuitBreaker(deps.clock, policy.breakerFailures, policy.breakerOpenSec * 1000);
  }

  async run<T>(attempt: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    const waitMs = this.notBefore - this.deps.clock.now();
    if (waitMs > 0) {
      throw new BrokerError("upstream_unavailable", `Partner for "${this.provider}" asked to wait before the next request.`, {
        retryAfterSec: Math.ceil(waitMs / 1000),
      });
    }
    if (!this.breaker.tryAcquire()) {
      throw new BrokerError("upstream_unavailable", `Partner for "${this.provider}" is failing; circuit open.`, {
        retryAfterSec: Math.max(1, Math.ceil(this.breaker.blockedForMs() / 1000)),
      });
    }
    let last: UpstreamFailure | undefined;
    try {
      for (let n = 1; n <= this.policy.maxAttempts; n++) {
        try {
          const value = await this.once(attempt, outer);
          this.breaker.onSuccess();
          return value;
        } catch (error) {
          last = asFailure(error);
          this.deps.logger.log("warn", "upstream_attempt_failed", {
            provider: this.provider,
            attempt: n,
            kind: last.kind,
            summary: last.summary,
            ...errorFields(last.cause),
          });
          if (outer?.aborted) throw cancelled(this.provider, outer);
          if (last.kind !== "transient" || n === this.policy.maxAttempts) break;
          const retryAfter = last.options.retryAfterSec;
          if (retryAfter !== undefined && retryAfter > this.policy.maxRetryAfterSec) break;
          const backoff = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (n - 1)) * this.deps.random();
          await this.deps.sleeper.sleep(Math.max(backoff, (retryAfter ?? 0) * 1000), outer);
        }
      }
    } catch (error) {
      // Not the partner's doing (secret store error, caller cancelled): free a half-open trial
      // without counting a failure, or the breaker would stay blocked for ever.
      this.breaker.release();
      throw outer?.aborted && !(error instanceof BrokerError) ? cancelled(this.provider, outer) : error;
    }
    // A rejection is the partner working correctly: it must not open the circuit for everyone.
    if (last?.kind === "rejected") this.breaker.onSuccess();
    else this.breaker.onFailure();
    // The partner's Retry-After holds for the next requests too, not only for this call's retries.
    const retryAfterSec = last?.kind === "transient" ? last.options.retryAfterSec : undefined;
    if (retryAfterSec !== undefined && retryAfterSec > 0) this.notBefore = this.deps.clock.now() + retryAfterSec * 1000;
    throw toBrokerError(this.provider, last);
  }

  private async once<T>(attempt: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    outer?.addEventListener("abort", onAbort, { once: true });
    const timer = new AbortController();
    let timedOut = false;
    const timeout = this.deps.sleeper.sleep(this.policy.timeoutMs, timer.signal).then(() => {
      timedOut = true;
      throw new UpstreamFailure("transient", `timed out after ${this.policy.timeoutMs} ms`);
    });
    timeout.catch(() => undefined);
    try {
      return await Promise.race([attempt(controller.signal), timeout]);
    } finally {
      timer.abort(new Error("done"));
      // Aborted only once the race is settled: fetch rejects at once on abort, and that would win
      // the race as a plain "network error".
      if (timedOut) controller.abort(new Error("timeout"));
      outer?.removeEventListener("abort", onAbort);
    }
  }
}

function asFailure(error: unknown): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  if (error instanceof BrokerError) throw error; // e.g. secret_unavailable: not the partner's fault
  return new UpstreamFailure("transient", "network error", { cause: error });
}

function cancelled(provider: string, outer: AbortSignal): BrokerError {
  return new BrokerError("upstream_unavailable", `Request to the partner for "${provider}" was cancelled.`, {
    cause: outer.reason,
    retryAfterSec: 1,
  });
}

function toBrokerError(provider: string, failure: UpstreamFailure | undefined): BrokerError {
  if (failure?.kind === "rejected") {
    return new BrokerError("upstream_rejected", `Partner rejected the credentials of "${provider}" (${failure.summary}).`, {
      cause: failure,
    });
  }
  if (failure?.kind === "invalid") {
    return new BrokerError("upstream_rejected", `Partner for "${provider}" returned an unusable response (${failure.summary}).`, {
      cause: failure,
    });
  }
  return new BrokerError("upstream_unavailable", `Partner for "${provider}" is unavailable (${failure?.summary ?? "unknown"}).`, {
    cause: failure,
    retryAfterSec: Math.max(1, failure?.options.retryAfterSec ?? 5),
  });
}
