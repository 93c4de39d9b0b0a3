import type { Clock } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { type Parsed, parsedValue } from "../http/request-params.js";
import type { Logger } from "../log/logger.js";
import { providerLabel, UNKNOWN_PROVIDER_DETAIL } from "../http/provider-label.js";
import type { IssuedCredential, TokenSource } from "../providers/credential.js";
import type { CallerVerifier, VerifiedCaller } from "../callers/caller-verifier.js";
import type { CallerPolicy } from "../callers/caller-policy.js";
import type { CacheResult } from "../tokens/local-cache.js";
import type { TokenCache } from "../tokens/token-cache.js";
import type { IssuedAuditTrail } from "./audit-trail.js";
import { ServedLedger } from "./served-ledger.js";
import { SPANS } from "../telemetry/instruments.js";
import { noTelemetry, type ActiveSpan, type SpanOptions, type Telemetry } from "../telemetry/telemetry.js";

export interface TokenRequest {
  authorization: string | null | undefined;
  provider: string;
  /** Seconds the credential must stay valid (`min_ttl`, or the configured default). */
  minTtlSec: Parsed<number>;
}

/** What a caller is issued: the credential and what its response states about it. */
export interface IssuedToken {
  provider: string;
  credential: IssuedCredential;
  /** The scope a token provider's tokens are issued for, when configured. */
  scope: string | undefined;
  /** Whole seconds of validity left, never negative. */
  expiresInSec: number;
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
  private readonly recordServed = (caller: string, provider: string, credential: { fingerprint: string }) =>
    this.served.record(caller, provider, credential.fingerprint);
  private readonly telemetry: Telemetry;

  constructor(private readonly deps: TokenServiceDeps) {
    this.telemetry = deps.telemetry ?? noTelemetry;
  }

  /** Never throws: every denial is a rejected promise, audited with its code. */
  issue(request: TokenRequest): Promise<IssuedToken> {
    return this.telemetry.span(SPANS.tokenRequest, REQUEST_SPAN, (span) => this.issueIn(request, span));
  }

  /** In the order of the contract: caller (401), parameters (400), provider (404), grant (403). */
  private async issueIn(request: TokenRequest, span: ActiveSpan): Promise<IssuedToken> {
    let caller: string | undefined;
    try {
      const verified = await this.deps.verifier.verify(request.authorization);
      caller = this.deps.policy.identify(verified) ?? verified.id;
      const minTtlSec = parsedValue(request.minTtlSec);
      const source = this.sourceFor(request.provider);
      this.deps.policy.authorizeProvider(verified, request.provider);
      const policy = this.deps.config.providers[request.provider]!.cache;
      const result = await this.deps.cache.get(source, policy, { minTtlSec });
      return this.issued(caller, request.provider, result, span);
    } catch (error) {
      throw this.denied(error, caller, request.provider, span);
    }
  }

  private issued(caller: string, provider: string, result: CacheResult, span: ActiveSpan): IssuedToken {
    const { credential } = result;
    this.deps.audit.issued(caller, provider, result.outcome, credential, this.recordServed);
    const now = this.deps.clock.now();
    this.observeIssued(caller, provider, result, now, span);
    const expiresInSec = Math.max(0, Math.floor((credential.expiresAt - now) / 1000));
    const settings = this.deps.config.providers[provider]!;
    const scope = "scope" in settings && typeof settings.scope === "string" ? settings.scope : undefined;
    return { provider, credential, scope, expiresInSec };
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
    // A name from the URL that is not configured must not become a metric series of its own.
    const label = Object.hasOwn(this.deps.config.providers, provider) ? provider : "(unknown)";
    const fields = { provider: label, outcome: "denied", code: e.code, "http.response.status_code": e.status };
    span.set({ caller, ...fields });
    this.telemetry.add("tokenRequests", 1, fields);
    this.deps.logger.log(e.status >= 500 ? "warn" : "info", "token_denied", {
      ...e.logFields,
      caller,
      provider: providerLabel(provider, this.deps.config.providers),
      code: e.code,
      status: e.status,
    });
    return e;
  }

  private sourceFor(provider: string): TokenSource {
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
