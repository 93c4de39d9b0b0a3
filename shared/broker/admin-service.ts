import type { Clock } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { parseFlag } from "../http/request-params.js";
import type { Logger } from "../log/logger.js";
import type { ProviderRuntime } from "../providers/source-registry.js";
import type { RotationService } from "../rotation/rotation-service.js";
import type { RotationResult, RotationStatus } from "../rotation/rotation-types.js";
import type { TokenCache } from "../tokens/token-cache.js";
import type { FleetStatus, StatusReport } from "./fleet-status.js";
import { parseStatusQuery, type RawStatusQuery } from "./status-query.js";
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
  rotation?: RotationStatus | { error: { code: string; detail: string } };
}

export interface RefreshResult {
  provider: string;
  token_type: string;
  fingerprint: string;
  issued_at: string;
  expires_at: string;
}

/**
 * The operator routes. Every call authenticates the caller and requires the operator role, and
 * leaves an `admin_action` audit line. Everything returned is metadata: fingerprints, key ids,
 * times — never a secret or token value.
 */
export class AdminService {
  constructor(private readonly deps: AdminServiceDeps) {}

  /** Filters (`provider`, `state`) and the view are checked after the operator is authenticated. */
  async status(authorization: string | null | undefined, rawQuery: RawStatusQuery = {}): Promise<StatusReport> {
    const caller = await this.operator(authorization, "status");
    try {
      const query = parseStatusQuery(rawQuery);
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
      return report;
    } catch (error) {
      this.audit(caller, "status", undefined, toBrokerError(error).code);
      throw error;
    }
  }

  async refresh(authorization: string | null | undefined, provider: string): Promise<RefreshResult> {
    const caller = await this.operator(authorization, "refresh", provider);
    const runtime = this.runtime(provider);
    try {
      const policy = this.deps.config.providers[provider]!.cache;
      // Every instance drops what it holds first; the forced fetch then stores the new credential
      // locally and in the shared cache, where the others pick it up.
      await this.deps.cache.invalidate(provider, { broadcast: true });
      const { credential } = await this.deps.cache.get(runtime.source, policy, { minTtlSec: 0, force: true });
      this.audit(caller, "refresh", provider, "ok", credential.fingerprint);
      return {
        provider,
        token_type: credential.tokenType,
        fingerprint: credential.fingerprint,
        issued_at: iso(credential.issuedAt)!,
        expires_at: iso(credential.expiresAt)!,
      };
    } catch (error) {
      this.audit(caller, "refresh", provider, toBrokerError(error).code);
      throw error;
    }
  }

  async rotate(authorization: string | null | undefined, provider: string, dryRunFlag: string | null): Promise<RotationResult> {
    const caller = await this.operator(authorization, "rotate", provider);
    const dryRun = parseFlag(dryRunFlag, "dry_run");
    this.runtime(provider);
    if (!this.deps.rotation.isRotating(provider)) {
      throw new BrokerError("bad_request", `Provider "${provider}" has no rotation configured.`);
    }
    try {
      const result = await this.deps.rotation.rotate(provider, { dryRun, manual: true });
      this.audit(caller, dryRun ? "rotate_dry_run" : "rotate", provider, result.outcome);
      return result;
    } catch (error) {
      this.audit(caller, "rotate", provider, toBrokerError(error).code);
      throw error;
    }
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
    if (runtime.caller) status.circuit = runtime.caller.breaker.state;
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
      this.audit(undefined, action, provider, toBrokerError(error).code);
      throw error;
    }
  }

  private runtime(provider: string): ProviderRuntime {
    const runtime = this.deps.providers.get(provider);
    if (!runtime) throw new BrokerError("provider_not_found", `No provider named "${provider.slice(0, 64)}".`);
    return runtime;
  }

  private audit(caller: string | undefined, action: string, provider: string | undefined, outcome: string, fingerprint?: string): void {
    this.deps.logger.log("info", "admin_action", { caller, action, provider, outcome, fingerprint });
  }
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
