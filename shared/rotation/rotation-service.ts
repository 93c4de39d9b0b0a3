import { randomBytes } from "node:crypto";
import { expandKeyApi } from "../config/rotation-schema.js";
import type { ProviderConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { ConflictError } from "../errors/conflict-error.js";
import { UNKNOWN_PROVIDER_DETAIL } from "../http/provider-label.js";
import { errorFields } from "../log/logger.js";
import type { SecretStore } from "../secrets/secret-store.js";
import { PartnerKeyApi } from "./key-api.js";
import type { Lock } from "./lock.js";
import { OperatorRotation } from "./operator-rotation.js";
import { PartnerRotation } from "./partner-rotation.js";
import { rotationFailure, type RotationResult, type RotationStatus } from "./rotation-types.js";
import type { PartnerPlatform } from "../platform.js";
import { SPANS } from "../telemetry/instruments.js";
import type { ActiveSpan, Telemetry } from "../telemetry/telemetry.js";

export interface RotationServiceDeps extends PartnerPlatform {
  config: { providers: Record<string, ProviderConfig> };
  /**
   * The UNCACHED store: rotation decides what to delete at the partner from what it reads here, so
   * a stale read of the key secret could make it delete the key in service.
   */
  secrets: SecretStore;
  lock: Lock;
  /** Drop cached credentials of the provider everywhere (the old key's). Failures are only logged. */
  onPromoted(provider: string): Promise<void>;
  /** Lease length; a run (verify attempts, back-offs, timeouts) must fit well inside it. Default 10 min. */
  lockTtlMs?: number;
}

export interface RotateOptions {
  /** Return the plan: reads only, no lock, nothing written or created. */
  dryRun?: boolean;
  /** An operator asked: rotate even if not due, even if automatic rotation stopped (needs_attention). */
  manual: boolean;
}

type Engine = PartnerRotation | OperatorRotation;

const DEFAULT_LOCK_TTL_MS = 10 * 60_000;
const FAILED_OUTCOMES = new Set<RotationResult["outcome"]>(["failed", "key_limit_reached", "rejected", "skipped"]);

/**
 * Entry point of rotation for the admin routes and the maintenance timer. One lock per provider
 * makes the timer and an operator exclude each other; the loser gets `conflict` (rotate) or
 * outcome "locked" (maintain).
 */
export class RotationService {
  private readonly engines = new Map<string, Engine>();
  /** The last status read per provider: the rotation gauges report it without reading the vault. */
  private readonly lastStatus = new Map<string, RotationStatus>();

  constructor(private readonly deps: RotationServiceDeps) {
    if (deps.telemetry) observeRotation(deps.telemetry, this.lastStatus, deps.clock);
    for (const [name, provider] of Object.entries(deps.config.providers)) {
      if (provider.kind !== "api-key" || !provider.rotation) continue;
      const rotation = provider.rotation;
      if (rotation.mode === "operator") {
        this.engines.set(name, new OperatorRotation({ provider: name, config: provider, rotation }, deps));
        continue;
      }
      if (!rotation.keyApi) continue; // the schema requires it; never reached with a parsed config
      const spec = expandKeyApi(rotation.keyApi);
      this.engines.set(
        name,
        new PartnerRotation(
          { provider: name, keySecretName: provider.key.secret, rotation, spec },
          {
            ...deps,
            keyApi: new PartnerKeyApi(name, spec, provider.upstream, deps),
            newRotationId: () => `${deps.clock.now().toString(36)}-${randomBytes(4).toString("hex")}`,
          },
        ),
      );
    }
  }

  providerConfig(provider: string): ProviderConfig | undefined {
    return Object.hasOwn(this.deps.config.providers, provider) ? this.deps.config.providers[provider] : undefined;
  }

  isRotating(provider: string): boolean {
    return this.engines.has(provider);
  }

  /** Rotates now (operator) or when due. Failures throw BrokerErrors (conflict when the lock is held). */
  async rotate(provider: string, options: RotateOptions): Promise<RotationResult> {
    if (options.dryRun || !this.deps.telemetry) return this.rotateNow(provider, options);
    const telemetry = this.deps.telemetry;
    // Counted once a run has a result, failed ones included; a refused lock or request is no run.
    return telemetry.span(SPANS.rotationRun, { attributes: { provider, step: "operator" } }, (span) =>
      this.rotateNow(provider, options, (result) => this.ran(telemetry, span, result)),
    );
  }

  private async rotateNow(provider: string, options: RotateOptions, observe?: (result: RotationResult) => Promise<void>): Promise<RotationResult> {
    const engine = this.engine(provider);
    const mode = engine instanceof PartnerRotation ? "partner-api" : "operator";
    if (options.dryRun) {
      const plan = await engine.plan(options.manual);
      return { provider, mode, outcome: "dry_run", actions: [], plan };
    }
    const lease = await this.deps.lock.tryAcquire(lockName(provider), this.deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
    if (!lease) throw new ConflictError("rotation_running", `A rotation of "${provider}" is already running.`);
    let result: RotationResult;
    try {
      result = await engine.run(lease, { manual: options.manual });
    } finally {
      await lease.release();
    }
    await observe?.(result);
    if (FAILED_OUTCOMES.has(result.outcome)) throw failureError(provider, result);
    return result;
  }

  /** The timer's work for one provider: resume, retire, sweep, rotate when due. Never throws. */
  async maintain(provider: string): Promise<RotationResult> {
    const telemetry = this.deps.telemetry;
    if (!telemetry) return this.maintainNow(provider);
    return telemetry.span(SPANS.rotationRun, { attributes: { provider, step: "maintain" } }, async (span) => {
      const result = await this.maintainNow(provider);
      await this.ran(telemetry, span, result);
      return result;
    });
  }

  private async ran(telemetry: Telemetry, span: ActiveSpan, result: RotationResult): Promise<void> {
    const fields = { provider: result.provider, outcome: result.outcome, code: result.error?.code };
    span.set(fields);
    telemetry.add("rotationRuns", 1, fields);
    await this.readStatus(result.provider);
  }

  /** Refreshes the gauges' view after a run; a failing read keeps the previous one. */
  private async readStatus(provider: string): Promise<void> {
    try {
      await this.status(provider);
    } catch {
      // The run's own outcome is already counted and logged.
    }
  }

  private async maintainNow(provider: string): Promise<RotationResult> {
    const engine = this.engine(provider);
    const mode = engine instanceof PartnerRotation ? "partner-api" : "operator";
    try {
      const lease = await this.deps.lock.tryAcquire(lockName(provider), this.deps.lockTtlMs ?? DEFAULT_LOCK_TTL_MS);
      if (!lease) return { provider, mode, outcome: "locked", actions: [], reason: "another rotation holds the lock" };
      try {
        return await engine.run(lease, { manual: false });
      } finally {
        await lease.release();
      }
    } catch (error) {
      const failure = toBrokerError(error);
      this.deps.logger.log("error", "rotation_maintain_failed", { provider, ...errorFields(error) });
      return { provider, mode, outcome: "failed", actions: [], error: rotationFailure(failure) };
    }
  }

  async status(provider: string): Promise<RotationStatus> {
    const status = await this.engine(provider).status();
    this.lastStatus.set(provider, status);
    return status;
  }

  private engine(provider: string): Engine {
    const config = this.providerConfig(provider);
    if (!config) throw new BrokerError("provider_not_found", UNKNOWN_PROVIDER_DETAIL);
    const engine = this.engines.get(provider);
    if (!engine) throw new BrokerError("bad_request", `Provider "${provider}" has no key rotation configured.`);
    return engine;
  }
}

function lockName(provider: string): string {
  return `rotation:${provider}`;
}

/**
 * What the operator is answered for a run that failed or was held back. A "skipped" run carries no
 * error of its own: what holds it back is previous_pending or needs_attention (rotationVerdict).
 */
function failureError(provider: string, result: RotationResult): BrokerError {
  const failure = result.error;
  if (failure?.reason !== undefined) return new ConflictError(failure.reason, failure.detail);
  if (failure) return new BrokerError(failure.code, failure.detail);
  if (result.reason === "previous_pending") {
    const until = result.retireAt ?? "its retirement";
    return new ConflictError("previous_pending", `The previous key of "${provider}" is in its grace period until ${until}; rotate again once it is retired.`);
  }
  return new ConflictError("needs_attention", `Rotation of "${provider}" was not started (${result.reason ?? result.outcome}).`);
}

/** Rotation gauges from the last status read: key age and overdue time advance with the clock between reads. */
function observeRotation(telemetry: Telemetry, statuses: ReadonlyMap<string, RotationStatus>, clock: { now(): number }): void {
  const each = (read: (status: RotationStatus, now: number) => void) => () => {
    const now = clock.now();
    for (const status of statuses.values()) read(status, now);
  };
  telemetry.observe("rotationKeyAge", (emit) =>
    each((s, now) => emit(Math.max(0, (now - Date.parse(s.keyCreatedAt)) / 1000), { provider: s.provider }))(),
  );
  telemetry.observe("rotationOverdue", (emit) =>
    each((s, now) => emit(Math.max(0, (now - Date.parse(s.nextDueAt)) / 1000), { provider: s.provider }))(),
  );
  telemetry.observe("rotationPhase", (emit) => each((s) => emit(1, { provider: s.provider, phase: s.phase }))());
  telemetry.observe("rotationFailures", (emit) => each((s) => emit(s.failures, { provider: s.provider }))());
  telemetry.observe("rotationNeedsAttention", (emit) => each((s) => emit(s.needsAttention ? 1 : 0, { provider: s.provider }))());
}
