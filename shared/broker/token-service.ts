import type { Clock } from "../clock.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { parseMinTtl } from "../http/request-params.js";
import type { Logger } from "../log/logger.js";
import type { TokenSource } from "../providers/credential.js";
import type { CallerVerifier, VerifiedCaller } from "../callers/caller-verifier.js";
import type { CallerPolicy } from "../callers/caller-policy.js";
import type { TokenCache } from "../tokens/token-cache.js";
import { expiresIn, serializeTokenBody } from "./token-body.js";

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
}

/**
 * The caller's path to a partner credential: authenticate (401), validate parameters (400),
 * resolve the provider (404), check the grant (403), then serve from the cache. Every outcome
 * leaves one audit line with the caller, the provider and a fingerprint — never the credential.
 */
export class TokenService {
  constructor(private readonly deps: TokenServiceDeps) {}

  /** Returns the serialized response body (see token-body.ts). */
  async issue(request: TokenRequest): Promise<string> {
    let caller: string | undefined;
    try {
      // The synchronous cache checks first: a hit then awaits nothing on the way through.
      const verified = this.deps.verifier.cached(request.authorization) ?? (await this.deps.verifier.verify(request.authorization));
      caller = this.deps.policy.identify(verified) ?? verified.id;
      const minTtlSec = parseMinTtl(request.minTtl, this.deps.config.defaultMinTtlSec);
      const source = this.sourceFor(request.provider);
      this.deps.policy.authorizeProvider(verified, request.provider);
      const provider = this.deps.config.providers[request.provider]!;
      const result = this.deps.cache.peek(source, minTtlSec) ?? (await this.deps.cache.get(source, provider.cache, { minTtlSec }));
      const now = this.deps.clock.now();
      this.deps.logger.log("info", "token_issued", {
        caller,
        provider: request.provider,
        cache: result.outcome,
        fingerprint: result.credential.fingerprint,
        expires_in: expiresIn(result.credential, now),
      });
      return serializeTokenBody(request.provider, result.credential, now);
    } catch (error) {
      const e = toBrokerError(error);
      this.deps.logger.log(e.status >= 500 ? "warn" : "info", "token_denied", {
        caller,
        provider: safeProviderLabel(request.provider),
        code: e.code,
        status: e.status,
      });
      throw e;
    }
  }

  sourceFor(provider: string): TokenSource {
    const source = this.deps.sources.get(provider);
    if (!source) throw new BrokerError("provider_not_found", `No provider named "${safeProviderLabel(provider)}".`);
    return source;
  }

  /** For operator routes, which authenticate the same way but need the operator role. */
  async authenticateOperator(authorization: string | null | undefined): Promise<{ caller: string; verified: VerifiedCaller }> {
    const verified = await this.deps.verifier.verify(authorization);
    const caller = this.deps.policy.authorizeOperator(verified);
    return { caller, verified };
  }
}

/** Provider names come from the URL: echo them only when they look like a provider name. */
function safeProviderLabel(provider: string): string {
  return /^[a-z0-9][a-z0-9-]{0,62}$/.test(provider) ? provider : "(invalid name)";
}
