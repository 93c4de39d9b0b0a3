import type { Clock } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { parseMinTtl } from "../http/request-params.js";
import type { Logger } from "../log/logger.js";
import { providerLabel, UNKNOWN_PROVIDER_DETAIL } from "../http/provider-label.js";
import type { TokenSource } from "../providers/credential.js";
import type { CallerVerifier, VerifiedCaller } from "../callers/caller-verifier.js";
import type { CallerPolicy } from "../callers/caller-policy.js";
import type { CacheResult } from "../tokens/local-cache.js";
import type { TokenCache } from "../tokens/token-cache.js";
import type { IssuedAuditTrail } from "./audit-trail.js";
import { ServedLedger } from "./served-ledger.js";
import { SPANS } from "../telemetry/instruments.js";
import { noSpan, noTelemetry, type ActiveSpan, type SpanOptions, type Telemetry } from "../telemetry/telemetry.js";
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
  /** One span per request and the request metrics; none by default. */
  telemetry?: Telemetry;
}

const REQUEST_SPAN: SpanOptions = { kind: "server" };

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
  private readonly telemetry: Telemetry;
  /** False with the no-op port: the hit path then builds no attribute objects. */
  private readonly observed: boolean;

  constructor(private readonly deps: TokenServiceDeps) {
    this.telemetry = deps.telemetry ?? noTelemetry;
    this.observed = this.telemetry !== noTelemetry;
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
    // Without telemetry the hot path allocates nothing more than before: no closure, no span.
    if (!this.observed) return this.issueIn(request, noSpan);
    return this.telemetry.span(SPANS.tokenRequest, REQUEST_SPAN, (span) => this.issueIn(request, span));
  }

  private issueIn(request: TokenRequest, span: ActiveSpan): string | Promise<string> {
    let caller: string | undefined;
    let verified: VerifiedCaller | undefined;
    try {
      verified = this.deps.verifier.cached(request.authorization);
      if (verified !== undefined) {
        caller = this.callerName(verified);
        const checked = this.check(verified, request);
        const hit = this.deps.cache.peek(checked.source, checked.minTtlSec);
        if (hit !== undefined) return this.issued(caller, request.provider, hit, span);
      }
    } catch (error) {
      return Promise.reject(this.denied(error, caller, request.provider, span));
    }
    // A caller token to verify, or a credential to fetch (or wait for).
    return this.issueAsync(request, span, verified);
  }

  /** `known`: the caller the hot path already found verified (not looked up, nor counted, twice). */
  private async issueAsync(request: TokenRequest, span: ActiveSpan, known: VerifiedCaller | undefined): Promise<string> {
    let caller: string | undefined;
    try {
      const verified = known ?? (await this.deps.verifier.verify(request.authorization));
      caller = this.callerName(verified);
      const checked = this.check(verified, request);
      const policy = this.deps.config.providers[request.provider]!.cache;
      const result = await this.deps.cache.get(checked.source, policy, { minTtlSec: checked.minTtlSec });
      return this.issued(caller, request.provider, result, span);
    } catch (error) {
      throw this.denied(error, caller, request.provider, span);
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

  private issued(caller: string, provider: string, result: CacheResult, span: ActiveSpan): string {
    this.deps.audit.issued(caller, provider, result.outcome, result.credential, this.recordServed);
    const now = this.deps.clock.now();
    if (this.observed) this.observeIssued(caller, provider, result, now, span);
    return serializeTokenBody(provider, result.credential, now, this.scopes.get(provider));
  }

  private observeIssued(caller: string, provider: string, result: CacheResult, now: number, span: ActiveSpan): void {
    const { outcome, credential } = result;
    span.set({ caller, provider, outcome, "http.response.status_code": 200 });
    this.telemetry.add("tokenRequests", 1, { provider, outcome, "http.response.status_code": 200 });
    this.telemetry.record("credentialRemainingLifetime", Math.max(0, (credential.expiresAt - now) / 1000), { provider });
    this.telemetry.record("credentialAge", Math.max(0, (now - credential.issuedAt) / 1000), { provider });
  }

  private denied(error: unknown, caller: string | undefined, provider: string, span: ActiveSpan): BrokerError {
    const e = toBrokerError(error);
    if (this.observed) {
      // A name from the URL that is not configured must not become a metric series of its own.
      const label = Object.hasOwn(this.deps.config.providers, provider) ? provider : "(unknown)";
      const fields = { provider: label, outcome: "denied", code: e.code, "http.response.status_code": e.status };
      span.set({ caller, ...fields });
      this.telemetry.add("tokenRequests", 1, fields);
    }
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
