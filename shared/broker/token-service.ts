import type { Clock } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { parseMinTtl } from "../http/request-params.js";
import type { Logger } from "../log/logger.js";
import { providerLabel, UNKNOWN_PROVIDER_DETAIL } from "../http/provider-label.js";
import type { TokenSource } from "../providers/credential.js";
import type { CallerVerifier, VerifiedCaller } from "../callers/caller-verifier.js";
import type { CallerPolicy } from "../callers/caller-policy.js";
import type { CacheResult, TokenCache } from "../tokens/token-cache.js";
import type { IssuedAuditTrail } from "./audit-trail.js";
import { ServedLedger } from "./served-ledger.js";
import { serializeTokenBody } from "./token-body.js";

export interface TokenRequest {
  authorization: string | null | undefined;
  provider: string;
  minTtl: string | null | undefined;
}

export interface TokenServiceDeps {
  config: BrokerConfig;
  verifier: CallerVerifier;
  policy: CallerPolicy;
  cache: TokenCache;
  sources: ReadonlyMap<string, TokenSource>;
  clock: Clock;
  logger: Logger;
  /** Writes the token_issued audit (per hit, or first issuance plus summaries: audit.mode). */
  audit: IssuedAuditTrail;
}

/**
 * The caller's path to a partner credential: authenticate (401), validate parameters (400),
 * resolve the provider (404), check the grant (403), then serve from the cache. Every outcome
 * is audited with the caller, the provider and a fingerprint — never the credential.
 */
export class TokenService {
  /** Fingerprints served per caller (rejected-credential reports are checked against it). */
  readonly served = new ServedLedger();
  private readonly scopes = new Map<string, string>();
  private readonly recordServed = (caller: string, provider: string, credential: { fingerprint: string }) =>
    this.served.record(caller, provider, credential.fingerprint);

  constructor(private readonly deps: TokenServiceDeps) {
    for (const [name, provider] of Object.entries(deps.config.providers)) {
      if ("scope" in provider && typeof provider.scope === "string") this.scopes.set(name, provider.scope);
    }
  }

  /** The scope a token provider's tokens are issued for (stated in the token response). */
  scopeOf(provider: string): string | undefined {
    return this.scopes.get(provider);
  }

  /**
   * Returns the serialized response body (see token-body.ts). On the hot path (a caller token
   * already verified, a cached credential) the body comes back synchronously: a hit creates no
   * promise and waits for no microtask. Everything else, denials included, is a promise; this
   * method never throws.
   */
  issue(request: TokenRequest): string | Promise<string> {
    let caller: string | undefined;
    try {
      const verified = this.deps.verifier.cached(request.authorization);
      if (verified !== undefined) {
        caller = this.callerName(verified);
        const checked = this.check(verified, request);
        const hit = this.deps.cache.peek(checked.source, checked.minTtlSec);
        if (hit !== undefined) return this.issued(caller, request.provider, hit);
      }
    } catch (error) {
      return Promise.reject(this.denied(error, caller, request.provider));
    }
    // A caller token to verify, or a credential to fetch (or wait for).
    return this.issueAsync(request);
  }

  private async issueAsync(request: TokenRequest): Promise<string> {
    let caller: string | undefined;
    try {
      const verified = await this.deps.verifier.verify(request.authorization);
      caller = this.callerName(verified);
      const checked = this.check(verified, request);
      const policy = this.deps.config.providers[request.provider]!.cache;
      const result = await this.deps.cache.get(checked.source, policy, { minTtlSec: checked.minTtlSec });
      return this.issued(caller, request.provider, result);
    } catch (error) {
      throw this.denied(error, caller, request.provider);
    }
  }

  private callerName(verified: VerifiedCaller): string {
    return this.deps.policy.identify(verified) ?? verified.id;
  }

  /** In the order of the contract: parameters (400), provider (404), grant (403). */
  private check(verified: VerifiedCaller, request: TokenRequest) {
    const minTtlSec = parseMinTtl(request.minTtl, this.deps.config.defaultMinTtlSec);
    const source = this.sourceFor(request.provider);
    this.deps.policy.authorizeProvider(verified, request.provider);
    return { minTtlSec, source };
  }

  private issued(caller: string, provider: string, result: CacheResult): string {
    this.deps.audit.issued(caller, provider, result.outcome, result.credential, this.recordServed);
    return serializeTokenBody(provider, result.credential, this.deps.clock.now(), this.scopes.get(provider));
  }

  private denied(error: unknown, caller: string | undefined, provider: string): BrokerError {
    const e = toBrokerError(error);
    this.deps.logger.log(e.status >= 500 ? "warn" : "info", "token_denied", {
      ...e.logFields,
      caller,
      provider: providerLabel(provider, this.deps.config.providers),
      code: e.code,
      status: e.status,
    });
    return e;
  }

  sourceFor(provider: string): TokenSource {
    const source = this.deps.sources.get(provider);
    if (!source) throw new BrokerError("provider_not_found", UNKNOWN_PROVIDER_DETAIL);
    return source;
  }

  /** Authenticates a caller (401), resolves the provider (404) and checks the grant (403). */
  async authorizeCaller(authorization: string | null | undefined, provider: string): Promise<{ caller: string; source: TokenSource }> {
    const verified = await this.deps.verifier.verify(authorization);
    const source = this.sourceFor(provider);
    const caller = this.deps.policy.authorizeProvider(verified, provider);
    return { caller, source };
  }

  /** For operator routes, which authenticate the same way but need the operator role. */
  async authenticateOperator(authorization: string | null | undefined): Promise<{ caller: string; verified: VerifiedCaller }> {
    const verified = await this.deps.verifier.verify(authorization);
    const caller = this.deps.policy.authorizeOperator(verified);
    return { caller, verified };
  }
}
