import { type Clock, iso } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { providerLabel, UNKNOWN_PROVIDER_DETAIL } from "../http/provider-label.js";
import { parseFlag } from "../http/request-params.js";
import type { LogFields, Logger } from "../log/logger.js";
import type { ProviderRuntime } from "../providers/source-registry.js";
import type { RotationService } from "../rotation/rotation-service.js";
import type { RotationResult, RotationStatus } from "../rotation/rotation-types.js";
import type { SigningKeyRotation, SigningKeys } from "../signing/signing-keys.js";
import type { TokenCache } from "../tokens/token-cache.js";
import type { TokenService } from "./token-service.js";

export interface AdminServiceDeps {
  config: BrokerConfig;
  tokens: TokenService;
  cache: TokenCache;
  providers: ReadonlyMap<string, ProviderRuntime>;
  rotation: RotationService;
  clock: Clock;
  logger: Logger;
  /** Health of the fleet cache (Redis), when one is configured. */
  sharedCache?: () => unknown;
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

  async status(
    authorization: string | null | undefined,
  ): Promise<{ generated_at: string; shared_cache: unknown; providers: ProviderStatus[]; signing_keys: unknown[] }> {
    const caller = await this.operator(authorization, "status");
    const [providers, signingKeys] = await Promise.all([
      Promise.all([...this.deps.providers].map(([name, runtime]) => this.providerStatus(name, runtime))),
      this.signingKeyStatus(),
    ]);
    this.audit(caller, "status", undefined, "ok");
    return { generated_at: iso(this.deps.clock.now())!, shared_cache: this.deps.sharedCache?.() ?? "off", providers, signing_keys: signingKeys };
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

  async rotate(authorization: string | null | undefined, provider: string, dryRunFlag: string | null): Promise<RotationResult | SigningKeyRotation> {
    const caller = await this.operator(authorization, "rotate", provider);
    const dryRun = parseFlag(dryRunFlag, "dry_run");
    this.runtime(provider);
    if (this.deps.signingKeys.rotating().includes(provider)) {
      const result = await this.deps.signingKeys.rotate(provider, dryRun).catch((error: unknown) => {
        this.audit(caller, "rotate_signing_key", provider, toBrokerError(error).code);
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
      this.audit(caller, "rotate", provider, toBrokerError(error).code);
      throw error;
    }
  }

  /** Versions only (kids), never key material; one failing vault key does not fail the whole status. */
  private async signingKeyStatus(): Promise<unknown[]> {
    if (!this.deps.signingKeys.configured) return [];
    return this.deps.signingKeys.status().catch((error: unknown) => [{ error: { code: toBrokerError(error).code, detail: toBrokerError(error).detail } }]);
  }

  private async providerStatus(name: string, runtime: ProviderRuntime): Promise<ProviderStatus> {
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
    if (this.deps.rotation.isRotating(name)) {
      try {
        status.rotation = await this.deps.rotation.status(name);
      } catch (error) {
        const e = toBrokerError(error);
        status.rotation = { error: { code: e.code, detail: e.detail } };
      }
    }
    return status;
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
