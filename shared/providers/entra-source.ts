import type { AccessToken } from "@azure/identity";
import type { Clock } from "../clock.js";
import type { EntraProviderConfig } from "../config/entra-schema.js";
import { assertTokenSize } from "../http/bounded-body.js";
import { hasControlCharacter } from "../http/header-safe.js";
import { fingerprint } from "../log/fingerprint.js";
import { resolveExpiry } from "../tokens/expiry.js";
import type { UpstreamCaller } from "../upstream/upstream-caller.js";
import { UpstreamFailure } from "../upstream/upstream-failure.js";
import { SourceCacheKeys } from "./cache-key.js";
import { issueThrough, type IssuedCredential, type IssueOptions, type PreparedSource, type TokenSource } from "./credential.js";
import {
  defaultEntraCredentialFactory,
  resolveEntraClientAuth,
  type EntraClientAuth,
  type EntraClientAuthDeps,
  type EntraCredentialFactory,
} from "./entra-client-auth.js";
import { classifyEntraError, ExchangeRecorder } from "./entra-exchange.js";
import { resolveHeaders, withHeader } from "./headers.js";

export interface EntraSourceDeps extends EntraClientAuthDeps {
  name: string;
  config: EntraProviderConfig;
  clock: Clock;
  /** Holds this provider's circuit breaker: built once per provider by the composition root. */
  caller: UpstreamCaller;
  credentialFactory?: EntraCredentialFactory;
}

/**
 * Microsoft Entra ID client-credentials provider (Flowe, Kalibrate, Service Bus scopes) through the
 * real ClientSecretCredential / ClientCertificateCredential, so sovereign clouds, certificates and
 * Entra quirks behave exactly as Microsoft's SDK makes them behave. Retries, timeouts and the
 * breaker stay with the UpstreamCaller: the SDK's own retries are switched off.
 */
export class EntraSource implements TokenSource {
  readonly provider: string;
  private readonly keys: SourceCacheKeys;
  private readonly factory: EntraCredentialFactory;

  constructor(private readonly deps: EntraSourceDeps) {
    this.provider = deps.name;
    this.keys = new SourceCacheKeys(deps.name);
    this.factory = deps.credentialFactory ?? defaultEntraCredentialFactory;
  }

  async prepare(): Promise<PreparedSource> {
    const { config, secrets } = this.deps;
    const [auth, extra] = await Promise.all([resolveEntraClientAuth(this.provider, config, this.deps), resolveHeaders(config.headers, secrets)]);
    const cacheKey = this.keys.for([...auth.versions, ...extra.versions], () => ({
      kind: config.kind,
      credential: auth.value.kind,
      tenantId: config.tenantId,
      clientId: config.clientId,
      scope: config.scope,
      authorityHost: config.authorityHost,
      disableInstanceDiscovery: config.disableInstanceDiscovery,
      federation: config.federation,
      headers: config.headers,
    }));
    return {
      cacheKey,
      issue: (options: IssueOptions) => issueThrough(this.deps.caller, options, (signal) => this.requestToken(auth.value, extra.headers, signal)),
    };
  }

  private async requestToken(auth: EntraClientAuth, extraHeaders: Record<string, string>, signal: AbortSignal): Promise<IssuedCredential> {
    const { config, clock } = this.deps;
    const recorder = new ExchangeRecorder(clock, signal);
    // Taken before the request, so any error in the lifetime is on the safe side.
    const requestedAt = clock.now();
    let token: AccessToken | null;
    try {
      // A fresh credential (and so a fresh MSAL application) per issue, on purpose: MSAL caches
      // tokens and only goes back to Entra 5 minutes before expiry, so a reused credential would
      // answer the broker's refresh-ahead and operator-forced refreshes with the very token being
      // replaced. A fresh one also starts without MSAL's throttling cache, whose Retry-After
      // handling would otherwise fight the UpstreamCaller's.
      const credential = await this.factory(config.tenantId, config.clientId, auth, {
        authorityHost: config.authorityHost,
        disableInstanceDiscovery: config.disableInstanceDiscovery,
        retryOptions: { maxRetries: 0 },
        additionalPolicies: [{ policy: recorder.policy, position: "perRetry" }],
      });
      token = await credential.getToken(config.scope, { abortSignal: signal });
    } catch (error) {
      throw classifyEntraError(error, recorder.last, this.provider);
    }
    if (!token?.token || hasControlCharacter(token.token)) {
      throw new UpstreamFailure("invalid", "no usable access token", { status: recorder.last?.status });
    }
    assertTokenSize(token.token, config.upstream.maxTokenBytes, recorder.last?.status);
    const { expiresAt } = resolveExpiry({
      expiresOn: token.expiresOnTimestamp,
      accessToken: token.token,
      now: requestedAt,
      policy: config.cache,
    });
    return {
      tokenType: "Bearer",
      accessToken: token.token,
      headers: withHeader(extraHeaders, "Authorization", `Bearer ${token.token}`),
      expiresAt,
      issuedAt: requestedAt,
      fingerprint: fingerprint(token.token),
    };
  }
}
