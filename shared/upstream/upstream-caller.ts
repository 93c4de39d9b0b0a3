import type { UpstreamPolicy } from "../config/provider-base-schema.js";
import { BrokerError, isBrokerError } from "../errors/broker-error.js";
import { errorFields } from "../log/logger.js";
import { CircuitBreaker } from "./circuit-breaker.js";
import { UpstreamFailure } from "./upstream-failure.js";
import type { Platform } from "../platform.js";
import { SPANS } from "../telemetry/instruments.js";
import { errorType, noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { backoffDelay } from "../backoff.js";

export type UpstreamCallerDeps = Platform;

export interface RunOptions {
  /** The caller's own cancellation. */
  signal?: AbortSignal;
  /**
   * Operator refresh: call the partner now, whatever its last Retry-After or the circuit say. One
   * request a person asked for is how a throttle or an outage is found to be over.
   */
  immediate?: boolean;
}

/**
 * Runs one logical partner call: one overall deadline across every attempt and retry delay, a
 * per-attempt timeout within it, bounded retries with full jitter on transient failures (honouring
 * Retry-After up to a cap), no retry on rejections, and a circuit breaker. Errors leave as
 * BrokerErrors with the public codes: upstream_rejected (502) or upstream_unavailable (503 +
 * Retry-After, always whole seconds between 1 and maxThrottleSec).
 */
export class UpstreamCaller {
  readonly breaker: CircuitBreaker;
  /** Epoch ms before which the partner asked not to be called again (its last Retry-After, capped). */
  private notBefore = 0;
  private readonly telemetry: Telemetry;

  constructor(
    readonly provider: string,
    private readonly policy: UpstreamPolicy,
    private readonly deps: UpstreamCallerDeps,
  ) {
    this.breaker = new CircuitBreaker(deps.clock, policy.breakerFailures, policy.breakerOpenSec * 1000);
    this.telemetry = deps.telemetry ?? noTelemetry;
  }

  /** When the partner's last Retry-After ends (epoch ms), while it still holds; for status. */
  throttledUntil(): number | undefined {
    return this.notBefore > this.deps.clock.now() ? this.notBefore : undefined;
  }

  /** Milliseconds until the partner's last Retry-After ends; 0 when it may be called (a gauge). */
  throttledForMs(): number {
    return Math.max(0, this.notBefore - this.deps.clock.now());
  }

  /** One span per logical call (attempts are its children) and its duration by outcome. */
  run<T>(attempt: (signal: AbortSignal) => Promise<T>, options: RunOptions = {}): Promise<T> {
    const provider = this.provider;
    return this.telemetry.span(SPANS.partnerFetch, { attributes: { provider } }, async (span) => {
      const started = this.deps.clock.now();
      let outcome = "success";
      try {
        return await this.runAttempts(attempt, options);
      } catch (error) {
        outcome = errorType(error);
        throw error;
      } finally {
        span.set({ outcome });
        this.telemetry.record("partnerFetchDuration", (this.deps.clock.now() - started) / 1000, { provider, outcome });
      }
    });
  }

  private async runAttempts<T>(attempt: (signal: AbortSignal) => Promise<T>, options: RunOptions): Promise<T> {
    const outer = options.signal;
    const startedAt = this.deps.clock.now();
    const waitMs = this.notBefore - startedAt;
    if (waitMs > 0 && !options.immediate) {
      this.telemetry.add("partnerFetchFailures", 1, { provider: this.provider, kind: "throttled" });
      throw new BrokerError("upstream_unavailable", `Partner for "${this.provider}" asked to wait before the next request.`, {
        retryAfterSec: this.retryAfter(waitMs / 1000),
      });
    }
    if (!this.breaker.tryAcquire() && !options.immediate) {
      this.telemetry.add("partnerFetchFailures", 1, { provider: this.provider, kind: "circuit_open" });
      throw new BrokerError("upstream_unavailable", `Partner for "${this.provider}" is failing; circuit open.`, {
        retryAfterSec: this.retryAfter(this.breaker.blockedForMs() / 1000),
      });
    }
    const deadlineAt = startedAt + this.policy.deadlineMs;
    let last: UpstreamFailure | undefined;
    try {
      for (let n = 1; n <= this.policy.maxAttempts; n++) {
        const budgetMs = Math.min(this.policy.timeoutMs, deadlineAt - this.deps.clock.now());
        try {
          const value = await this.attemptSpan(n, last, () => this.once(attempt, outer, budgetMs));
          this.breaker.onSuccess();
          this.notBefore = 0;
          return value;
        } catch (error) {
          last = asFailure(error);
          this.telemetry.add("partnerFetchFailures", 1, { provider: this.provider, kind: last.kind });
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
          const backoff = backoffDelay({ baseMs: this.policy.baseDelayMs, maxMs: this.policy.maxDelayMs, jitter: "full" }, n, this.deps.random);
          const delay = Math.max(backoff, (retryAfter ?? 0) * 1000);
          // No attempt could start before the deadline: answer the caller now instead.
          if (this.deps.clock.now() + delay >= deadlineAt) break;
          await this.deps.sleeper.sleep(delay, outer);
        }
      }
    } catch (error) {
      // Not the partner's doing (secret store error, caller cancelled): free a half-open trial
      // without counting a failure, or the breaker would stay blocked for ever.
      this.breaker.release();
      throw outer?.aborted && !isBrokerError(error) ? cancelled(this.provider, outer) : error;
    }
    // A rejection is the partner working correctly: it must not open the circuit for everyone.
    if (last?.kind === "rejected") this.breaker.onSuccess();
    else this.breaker.onFailure();
    // The partner's Retry-After holds for the next requests too, not only for this call's retries,
    // but never longer than maxThrottleSec: one absurd header must not disable a provider.
    const retryAfterSec = last?.kind === "transient" ? last.options.retryAfterSec : undefined;
    if (retryAfterSec !== undefined && retryAfterSec > 0) {
      this.notBefore = this.deps.clock.now() + Math.min(retryAfterSec, this.policy.maxThrottleSec) * 1000;
    }
    throw this.answerFor(last);
  }

  /** The HTTP client span (undici, Azure SDK) nests under it: attempt number and why the previous one failed. */
  private attemptSpan<T>(n: number, previous: UpstreamFailure | undefined, fn: () => Promise<T>): Promise<T> {
    const attributes = { provider: this.provider, attempt: n, "retry.reason": previous ? `${previous.kind}: ${previous.summary}` : undefined };
    return this.telemetry.span(SPANS.partnerAttempt, { attributes }, fn);
  }

  /**
   * One attempt under its own timeout. The timer is the injected sleeper's deadline, so tests
   * move time instead of waiting, and the attempt's signal aborts the request and its body.
   */
  private async once<T>(attempt: (signal: AbortSignal) => Promise<T>, outer: AbortSignal | undefined, budgetMs: number): Promise<T> {
    const ms = Math.max(0, Math.floor(budgetMs));
    const controller = new AbortController();
    const onAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    outer?.addEventListener("abort", onAbort, { once: true });
    const timerDone = new AbortController();
    let expire!: (failure: UpstreamFailure) => void;
    const timeout = new Promise<never>((_, reject) => (expire = reject));
    this.deps.sleeper.deadline(ms, timerDone.signal).then(
      () => {
        // Reject first: aborting makes fetch reject synchronously, and that would win the race as a
        // plain "network error".
        expire(new UpstreamFailure("transient", `timed out after ${ms} ms`));
        controller.abort(new Error("timeout"));
      },
      () => undefined,
    );
    try {
      return await Promise.race([attempt(controller.signal), timeout]);
    } finally {
      timerDone.abort();
      outer?.removeEventListener("abort", onAbort);
    }
  }

  /** Whole seconds between 1 and maxThrottleSec: what callers may be told to wait. */
  private retryAfter(seconds: number | undefined, fallback = 5): number {
    const value = seconds !== undefined && Number.isFinite(seconds) ? Math.ceil(seconds) : fallback;
    return Math.min(this.policy.maxThrottleSec, Math.max(1, value));
  }

  /** The answer after the last attempt: rejected (never retried) or unavailable with a Retry-After. */
  private answerFor(failure: UpstreamFailure | undefined): BrokerError {
    const provider = this.provider;
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
      retryAfterSec: this.retryAfter(failure?.options.retryAfterSec),
    });
  }
}

function asFailure(error: unknown): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  if (isBrokerError(error)) throw error; // e.g. secret_unavailable: not the partner's fault
  return new UpstreamFailure("transient", "network error", { cause: error });
}

function cancelled(provider: string, outer: AbortSignal): BrokerError {
  return new BrokerError("upstream_unavailable", `Request to the partner for "${provider}" was cancelled.`, {
    cause: outer.reason,
    retryAfterSec: 1,
  });
}
