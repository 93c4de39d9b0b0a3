import { type Clock, iso } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { ConflictError } from "../errors/conflict-error.js";
import { providerLabel, UNKNOWN_PROVIDER_DETAIL } from "../http/provider-label.js";
import { type Parsed, parsedValue } from "../http/request-params.js";
import type { LogFields, Logger } from "../log/logger.js";
import type { ProviderRuntime } from "../providers/source-registry.js";
import type { RotationService } from "../rotation/rotation-service.js";
import type { RotationResult, RotationStatus } from "../rotation/rotation-types.js";
import type { SigningKeyRotation, SigningKeys } from "../signing/signing-keys.js";
import type { TokenCache } from "../tokens/token-cache.js";
import { credentialMetadata, type CredentialMetadata } from "./credential-metadata.js";
import type { FleetStatus, StatusReport } from "./fleet-status.js";
import type { StatusQuery } from "./status-query.js";
import type { TokenService } from "./token-service.js";

export interface AdminServiceDeps {
  config: BrokerConfig;
  tokens: TokenService;
  cache: TokenCache;
  providers: ReadonlyMap<string, ProviderRuntime>;
  rotation: RotationService;
  clock: Clock;
  logger: Logger;
  /** Merges this instance's status with the fleet's heartbeats and applies filters and views. */
  fleetStatus: FleetStatus;
  signingKeys: SigningKeys;
}

export interface ProviderStatus {
  provider: string;
  kind: string;
  token: {
    state: "cold" | "valid" | "expired";
    fingerprint?: string;
    issued_at?: string;
    expires_at?: string;
    refresh_at?: string;
    last_refresh_at?: string;
    refreshing: boolean;
    last_error?: { code: string; detail: string; at: string };
  };
  circuit?: "closed" | "open" | "half-open";
  /** The partner's Retry-After holds until then: no call to it before (except an operator refresh). */
  throttled_until?: string;
  rotation?: RotationStatus | { error: { code: string; detail: string } };
}

export interface RefreshResult extends CredentialMetadata {
  provider: string;
}

/** Which conflict refused an operator's rotation, for the admin_action line. */
function conflictReason(error: unknown): LogFields | undefined {
  return error instanceof ConflictError ? { reason: error.reason } : undefined;
}

/**
 * The operator routes. Every call authenticates the caller and requires the operator role, and
 * leaves an `admin_action` audit line. Everything returned is metadata: fingerprints, key ids,
 * times — never a secret or token value.
 */
export class AdminService {
  constructor(private readonly deps: AdminServiceDeps) {}

  /** Filters (`provider`, `state`) and the view are checked after the operator is authenticated. */
  async status(
    authorization: string | null | undefined,
    statusQuery: Parsed<StatusQuery>,
  ): Promise<StatusReport & { signing_keys?: unknown[] }> {
    const caller = await this.operator(authorization, "status");
    try {
      const query = parsedValue(statusQuery);
      // A filter may name a provider that does not exist: said without repeating the name.
      if (query.providers?.some((name) => !this.deps.providers.has(name))) {
        throw new BrokerError("provider_not_found", "Query parameter provider names a provider that is not configured.");
      }
      const names = query.providers ?? [...this.deps.providers.keys()];
      // Rotation state is read first, for rotating providers only: it decides needs_attention,
      // and the rest of a provider's status is built only when the answer lists it.
      const rotating = names.filter((name) => this.deps.rotation.isRotating(name));
      const rotations = new Map(await Promise.all(rotating.map(async (name) => [name, await this.rotationStatus(name)] as const)));
      const report = await this.deps.fleetStatus.report({
        names,
        configured: this.deps.providers.size,
        query,
        rotation: (name) => rotations.get(name),
        describe: (name) => this.providerStatus(name, this.deps.providers.get(name)!, rotations.get(name)),
      });
      this.audit(caller, "status", undefined, "ok");
      return this.deps.signingKeys.configured ? { ...report, signing_keys: await this.signingKeyStatus() } : report;
    } catch (error) {
      this.audit(caller, "status", undefined, toBrokerError(error).code);
      throw error;
    }
  }

  /**
   * A new credential now. The one in service keeps being served until it arrives (a partner outage
   * then costs nothing); `revoke=true` says the old one is known bad, so it is dropped everywhere
   * first and callers wait for the new one.
   */
  async refresh(authorization: string | null | undefined, provider: string, revokeFlag: Parsed<boolean>): Promise<RefreshResult> {
    const caller = await this.operator(authorization, "refresh", provider);
    const runtime = this.runtime(provider);
    const revoke = parsedValue(revokeFlag);
    const action = revoke ? "refresh_revoke" : "refresh";
    try {
      const policy = this.deps.config.providers[provider]!.cache;
      if (revoke) await this.deps.cache.revoke(provider);
      const { credential } = await this.deps.cache.refreshNow(runtime.source, policy);
      this.audit(caller, action, provider, "ok", credential.fingerprint);
      return { provider, ...credentialMetadata(credential) };
    } catch (error) {
      this.audit(caller, action, provider, toBrokerError(error).code);
      throw error;
    }
  }

  async rotate(authorization: string | null | undefined, provider: string, dryRunFlag: Parsed<boolean>): Promise<RotationResult | SigningKeyRotation> {
    const caller = await this.operator(authorization, "rotate", provider);
    const dryRun = parsedValue(dryRunFlag);
    this.runtime(provider);
    if (this.deps.signingKeys.rotating().includes(provider)) {
      const result = await this.deps.signingKeys.rotate(provider, dryRun).catch((error: unknown) => {
        this.audit(caller, "rotate_signing_key", provider, toBrokerError(error).code, undefined, conflictReason(error));
        throw error;
      });
      this.audit(caller, dryRun ? "rotate_signing_key_dry_run" : "rotate_signing_key", provider, "ok");
      return result;
    }
    if (!this.deps.rotation.isRotating(provider)) {
      throw new BrokerError("bad_request", `Provider "${provider}" has no rotation configured.`);
    }
    try {
      const result = await this.deps.rotation.rotate(provider, { dryRun, manual: true });
      this.audit(caller, dryRun ? "rotate_dry_run" : "rotate", provider, result.outcome);
      return result;
    } catch (error) {
      this.audit(caller, "rotate", provider, toBrokerError(error).code, undefined, conflictReason(error));
      throw error;
    }
  }

  /** Versions only (kids), never key material; one failing vault key does not fail the whole status. */
  private async signingKeyStatus(): Promise<unknown[]> {
    return this.deps.signingKeys.status().catch((error: unknown) => [{ error: { code: toBrokerError(error).code, detail: toBrokerError(error).detail } }]);
  }

  private providerStatus(name: string, runtime: ProviderRuntime, rotation: ProviderStatus["rotation"]): ProviderStatus {
    const state = this.deps.cache.state(name);
    const now = this.deps.clock.now();
    const status: ProviderStatus = {
      provider: name,
      kind: this.deps.config.providers[name]!.kind,
      token: {
        state: state.expiresAt === undefined ? "cold" : state.expiresAt > now ? "valid" : "expired",
        fingerprint: state.fingerprint,
        issued_at: iso(state.issuedAt),
        expires_at: iso(state.expiresAt),
        refresh_at: iso(state.refreshAt),
        last_refresh_at: iso(state.lastRefreshAt),
        refreshing: state.refreshing,
        last_error: state.lastError && { code: state.lastError.code, detail: state.lastError.detail, at: iso(state.lastError.at)! },
      },
    };
    if (runtime.caller) {
      status.circuit = runtime.caller.breaker.state;
      status.throttled_until = iso(runtime.caller.throttledUntil());
    }
    if (rotation !== undefined) status.rotation = rotation;
    return status;
  }

  private async rotationStatus(name: string): Promise<NonNullable<ProviderStatus["rotation"]>> {
    try {
      return await this.deps.rotation.status(name);
    } catch (error) {
      const e = toBrokerError(error);
      return { error: { code: e.code, detail: e.detail } };
    }
  }

  private async operator(authorization: string | null | undefined, action: string, provider?: string): Promise<string> {
    try {
      return (await this.deps.tokens.authenticateOperator(authorization)).caller;
    } catch (error) {
      const e = toBrokerError(error);
      this.audit(undefined, action, provider, e.code, undefined, e.logFields);
      throw error;
    }
  }

  private runtime(provider: string): ProviderRuntime {
    const runtime = this.deps.providers.get(provider);
    if (!runtime) throw new BrokerError("provider_not_found", UNKNOWN_PROVIDER_DETAIL);
    return runtime;
  }

  private audit(
    caller: string | undefined,
    action: string,
    provider: string | undefined,
    outcome: string,
    fingerprint?: string,
    refusal?: LogFields,
  ): void {
    const label = provider === undefined ? undefined : providerLabel(provider, this.deps.config.providers);
    this.deps.logger.log("info", "admin_action", { ...refusal, caller, action, provider: label, outcome, fingerprint });
  }
}
