import type { AccessToken, ClientSecretCredentialOptions, TokenCredential } from "@azure/identity";
import { z } from "zod";
import type { Clock } from "../clock.js";
import { TOKEN_EXCHANGE_AUDIENCE, type EntraProviderConfig } from "../config/entra-schema.js";
import { BrokerError, isBrokerError } from "../errors/broker-error.js";
import { assertTokenSize } from "../http/bounded-body.js";
import { fingerprint } from "../log/fingerprint.js";
import type { SecretStore } from "../secrets/secret-store.js";
import { resolveExpiry } from "../tokens/expiry.js";
import type { UpstreamCaller } from "../upstream/upstream-caller.js";
import { failureForStatus, parseRetryAfter, UpstreamFailure } from "../upstream/upstream-failure.js";
import { SourceCacheKeys } from "./cache-key.js";
import type { IssuedCredential, IssueOptions, PreparedSource, TokenSource } from "./credential.js";
import { resolveHeaders } from "./headers.js";
import type { ManagedIdentityAssertions } from "./managed-identity-assertions.js";
import { hasControlCharacter } from "../http/header-safe.js";

type AdditionalPolicy = NonNullable<ClientSecretCredentialOptions["additionalPolicies"]>[number];
type PipelinePolicy = AdditionalPolicy["policy"];

/** How the broker proves its identity to Entra for one token request. */
export type EntraClientAuth =
  | { kind: "secret"; secret: string }
  | { kind: "certificate"; pem: string }
  /** Workload identity federation: a token from the app's managed identity is the client assertion. */
  | { kind: "federated"; getAssertion: () => Promise<string> };

/** What EntraSource hands the credential factory; a subset of every credential's options. */
export interface EntraCredentialOptions {
  authorityHost: string;
  disableInstanceDiscovery: boolean;
  retryOptions: { maxRetries: number };
  additionalPolicies: AdditionalPolicy[];
}

export type EntraCredentialFactory = (
  tenantId: string,
  clientId: string,
  auth: EntraClientAuth,
  options: EntraCredentialOptions,
) => TokenCredential | Promise<TokenCredential>;

/** Same type under the name shared/providers/source-registry.ts imports. */
export type CredentialFactory = EntraCredentialFactory;

/**
 * The real @azure/identity credentials (MSAL node underneath), imported on the first token request:
 * the SDK and MSAL would otherwise be most of the app's start-up, paid by every cold start, even
 * one that never reaches Entra before the next scale-in.
 */
export const defaultEntraCredentialFactory: EntraCredentialFactory = async (tenantId, clientId, auth, options) => {
  const { ClientAssertionCredential, ClientCertificateCredential, ClientSecretCredential } = await import("@azure/identity");
  switch (auth.kind) {
    case "secret":
      return new ClientSecretCredential(tenantId, clientId, auth.secret, options);
    case "certificate":
      return new ClientCertificateCredential(tenantId, clientId, { certificate: auth.pem }, options);
    case "federated":
      return new ClientAssertionCredential(tenantId, clientId, auth.getAssertion, options);
  }
};

export interface EntraSourceDeps {
  name: string;
  config: EntraProviderConfig;
  secrets: SecretStore;
  clock: Clock;
  /** Holds this provider's circuit breaker: built once per provider by the composition root. */
  caller: UpstreamCaller;
  credentialFactory?: EntraCredentialFactory;
  /** Required by clientAuth "managed-identity-federation": the app's own identity. */
  managedIdentity?: ManagedIdentityAssertions;
}

/** A stored client secret: any non-empty value usable in a form body. */
const ClientSecretSchema = z.string().min(1);
/** ClientCertificateCredential needs the certificate and an unencrypted private key in one PEM. */
const CertificatePemSchema = z
  .string()
  .regex(/-----BEGIN CERTIFICATE-----/)
  .regex(/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/);
/** Only the OAuth error code of an Entra error body is ever repeated: error_description is free text. */
const EntraErrorBodySchema = z.object({
  error: z.string().regex(/^[a-z_]{1,64}$/),
  error_codes: z.array(z.number().int().nonnegative()).optional(),
});
/** Codes that only ever mean "these credentials or this request will not work": never retried. */
const REJECTION_IN_MESSAGE = /\b(invalid_client|unauthorized_client|invalid_scope|invalid_request|invalid_grant|invalid_resource|AADSTS\d{4,8})\b/;

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
    const [auth, extra] = await Promise.all([this.clientAuth(), resolveHeaders(config.headers, secrets)]);
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
      issue: (options: IssueOptions) =>
        this.deps.caller.run((signal) => this.requestToken(auth.value, extra.headers, signal), { signal: options.signal, immediate: options.force }),
    };
  }

  /** The client authentication of this provider, with the secret versions it was read from. */
  private async clientAuth(): Promise<{ value: EntraClientAuth; versions: string[] }> {
    const { config, secrets } = this.deps;
    if (config.clientAuth === "managed-identity-federation") {
      const federation = config.federation ?? { audience: TOKEN_EXCHANGE_AUDIENCE };
      const identity = this.deps.managedIdentity;
      if (!identity) throw new BrokerError("internal", `Provider "${this.provider}" uses federation but no managed identity was wired.`);
      return { value: { kind: "federated", getAssertion: () => identity.assertion(federation) }, versions: [] };
    }
    const kind = config.clientSecret ? "secret" : "certificate";
    const ref = config.clientSecret ?? config.certificate;
    if (!ref) throw new BrokerError("internal", `Provider "${this.provider}" has neither clientSecret nor certificate.`);
    const secret = await secrets.get(ref.secret);
    const valid = (kind === "secret" ? ClientSecretSchema : CertificatePemSchema).safeParse(secret.value);
    if (!valid.success) {
      // Name the secret, never its value (zod issues may quote the input, so they are not used either).
      const expected = kind === "secret" ? "a non-empty client secret" : "a PEM with a certificate and an unencrypted private key";
      throw new BrokerError("secret_unavailable", `Secret "${secret.name}" is not ${expected}.`);
    }
    const value: EntraClientAuth = kind === "secret" ? { kind, secret: valid.data } : { kind, pem: valid.data };
    return { value, versions: [`${secret.name}@${secret.version}`] };
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

/** One HTTP exchange the SDK made, reduced to what is safe to keep and enough to classify. */
export interface EntraExchange {
  step: "discovery" | "token" | "other";
  status?: number;
  retryAfterSec?: number;
  /** OAuth error code and first AADSTS code, e.g. "invalid_client, AADSTS7000215". */
  oauthError?: string;
  /** Transport error code (ECONNREFUSED, ...) when no response came back. */
  networkError?: string;
}

/**
 * MSAL folds HTTP failures into generic errors (a 401 and a garbled 200 can both surface as
 * AuthenticationRequiredError), so the status, Retry-After and OAuth code are read off the wire by
 * a per-retry pipeline policy instead. It also ties each request to the attempt's abort signal,
 * which MSAL does not pass through, so a timed-out attempt does not leave a request running.
 */
class ExchangeRecorder {
  last: EntraExchange | undefined;
  readonly policy: PipelinePolicy;

  constructor(clock: Clock, signal: AbortSignal) {
    this.policy = {
      name: "tokenBrokerEntraExchangeRecorder",
      sendRequest: async (request, next) => {
        const existing = request.abortSignal;
        request.abortSignal = existing instanceof AbortSignal ? AbortSignal.any([existing, signal]) : signal;
        const step = stepOf(request.url);
        try {
          const response = await next(request);
          this.last = {
            step,
            status: response.status,
            retryAfterSec: parseRetryAfter(response.headers.get("retry-after"), clock.now()),
            oauthError: response.status >= 400 ? oauthErrorOf(response.bodyAsText) : undefined,
          };
          return response;
        } catch (error) {
          this.last = { step, networkError: transportCode(error) };
          throw error;
        }
      },
    };
  }
}

/**
 * Turns what getToken threw into an UpstreamFailure, preferring what was seen on the wire:
 * 429/5xx/no response are transient, other 4xx are rejections (invalid_client, invalid_scope,
 * unknown tenant), a 2xx the SDK could not use is invalid. Summaries carry status and codes only.
 */
export function classifyEntraError(error: unknown, last: EntraExchange | undefined, provider: string): Error {
  if (isBrokerError(error) || error instanceof UpstreamFailure) return error;
  const where = last?.step === "discovery" ? "openid-configuration " : "";
  if (last?.status !== undefined) {
    const { status } = last;
    if (status >= 200 && status < 300) {
      return new UpstreamFailure("invalid", `${where}HTTP ${status} (response not usable)`, { status, cause: error });
    }
    // A request timeout is the network's fault, not the credentials'.
    if (status === 408) return new UpstreamFailure("transient", `${where}HTTP 408`, { status, cause: error });
    const failure = failureForStatus(status, last.retryAfterSec, last.oauthError);
    return new UpstreamFailure(failure.kind, where + failure.summary, { ...failure.options, cause: error });
  }
  if (last?.networkError !== undefined) {
    return new UpstreamFailure("transient", `${where}network error (${last.networkError})`, { cause: error });
  }
  // Nothing reached the wire: a credential factory that answers by itself, or a local refusal.
  const name = error instanceof Error ? error.name : typeof error;
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  if (name === "AuthenticationError" && typeof statusCode === "number" && statusCode > 0) {
    const code = (error as { errorResponse?: { error?: unknown } }).errorResponse?.error;
    return failureForStatus(statusCode, undefined, typeof code === "string" && /^[a-z_]{1,64}$/.test(code) ? code : undefined);
  }
  const message = error instanceof Error ? error.message : "";
  const rejection = REJECTION_IN_MESSAGE.exec(message);
  if (rejection) return new UpstreamFailure("rejected", `${name} (${rejection[1]})`, { cause: error });
  if (name === "CredentialUnavailableError") {
    // Raised before any request: the credential refused its own inputs (tenant, id, secret shape).
    return new BrokerError("secret_unavailable", `The Entra credential of "${provider}" could not be built from its configuration.`, {
      cause: error,
    });
  }
  if (name === "AbortError") return new UpstreamFailure("transient", "aborted", { cause: error });
  return new UpstreamFailure("transient", `client error (${safeName(name)})`, { cause: error });
}

function stepOf(url: string): EntraExchange["step"] {
  const path = new URL(url).pathname;
  if (path.endsWith("/.well-known/openid-configuration")) return "discovery";
  if (path.endsWith("/token")) return "token";
  return "other";
}

function oauthErrorOf(body: string | null | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = EntraErrorBodySchema.safeParse(JSON.parse(body));
    if (!parsed.success) return undefined;
    const aadsts = parsed.data.error_codes?.[0];
    return aadsts === undefined ? parsed.data.error : `${parsed.data.error}, AADSTS${aadsts}`;
  } catch {
    return undefined;
  }
}

function transportCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
  return safeName(error instanceof Error ? error.name : typeof error);
}

function safeName(name: string): string {
  return /^[A-Za-z][A-Za-z0-9_]{0,60}$/.test(name) ? name : "Error";
}

/** Sets a header, dropping any configured header of the same name in another case. */
function withHeader(headers: Record<string, string>, name: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== name.toLowerCase()) out[k] = v;
  out[name] = value;
  return out;
}
