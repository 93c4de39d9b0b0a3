import { z } from "zod";
import type { Clock } from "../clock.js";
import type { OAuth2ProviderConfig } from "../config/oauth2-schema.js";
import { assertTokenSize, readBodyText, readErrorText } from "../http/bounded-body.js";
import { fingerprint } from "../log/fingerprint.js";
import { resolveExpiry } from "../tokens/expiry.js";
import type { UpstreamCaller } from "../upstream/upstream-caller.js";
import { failureForStatus, parseRetryAfter, UpstreamFailure } from "../upstream/upstream-failure.js";
import { SourceCacheKeys } from "./cache-key.js";
import { issueThrough, type IssuedCredential, type IssueOptions, type PreparedSource, type TokenSource } from "./credential.js";
import { resolveHeaders, withHeader } from "./headers.js";
import { prepareOAuth2ClientAuth, type OAuth2ClientAuth, type OAuth2ClientAuthDeps } from "./oauth2-client-auth.js";
import { HEADER_SAFE } from "../http/header-safe.js";

export interface OAuth2SourceDeps extends OAuth2ClientAuthDeps {
  name: string;
  config: OAuth2ProviderConfig;
  clock: Clock;
  /** Holds this provider's circuit breaker: built once per provider by the composition root. */
  caller: UpstreamCaller;
}

/** RFC 9110 token: what an auth-scheme name may be. */
const AUTH_SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** RFC 6749 §5.1. Lifetimes stay `unknown`-ish here: resolveExpiry decides what makes sense. */
const TokenResponseSchema = z.object({
  access_token: z.string().min(1).regex(HEADER_SAFE),
  token_type: z.string().regex(AUTH_SCHEME).optional(),
  expires_in: z.union([z.number(), z.string()]).optional(),
  expires_on: z.union([z.number(), z.string()]).optional(),
});

/** RFC 6749 §5.2 `error` charset. Only this code is ever repeated: `error_description` can echo credentials. */
const ErrorResponseSchema = z.object({ error: z.string().regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/) });

/**
 * OAuth 2.0 client-credentials grant against a partner's own token endpoint (Ayyeka). One fetch
 * per `issue()`; retries, timeouts and the breaker are the UpstreamCaller's job.
 */
export class OAuth2Source implements TokenSource {
  readonly provider: string;
  private readonly keys: SourceCacheKeys;

  constructor(private readonly deps: OAuth2SourceDeps) {
    this.provider = deps.name;
    this.keys = new SourceCacheKeys(deps.name);
  }

  async prepare(): Promise<PreparedSource> {
    const { config, secrets } = this.deps;
    const [auth, extra] = await Promise.all([prepareOAuth2ClientAuth(config, this.deps), resolveHeaders(config.headers, secrets)]);
    const cacheKey = this.keys.for([...auth.versions, ...extra.versions], () => ({
      kind: config.kind,
      tokenUrl: config.tokenUrl,
      clientId: config.clientId,
      clientAuth: config.clientAuth,
      tlsClientCertificate: config.tlsClientCertificate,
      scope: config.scope,
      params: config.params,
      tokenType: config.tokenType,
      headers: config.headers,
    }));
    return {
      cacheKey,
      issue: (options: IssueOptions) => issueThrough(this.deps.caller, options, (signal) => this.requestToken(auth, extra.headers, signal)),
    };
  }

  private async requestToken(
    auth: OAuth2ClientAuth,
    extraHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<IssuedCredential> {
    const { config, clock } = this.deps;
    const headers: Record<string, string> = {
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
    };
    const body = new URLSearchParams({ grant_type: "client_credentials" });
    if (config.scope) body.set("scope", config.scope);
    for (const [name, value] of Object.entries(config.params)) {
      // The grant and the client's identity are the broker's to state, not an extra parameter's.
      if (!RESERVED_PARAMS.has(name) && !(name === "scope" && config.scope)) body.set(name, value);
    }
    await auth.apply(headers, body);

    // Taken before the request: expires_in counts from the partner's issue time, which is later.
    const requestedAt = clock.now();
    const response = await auth.fetch(config.tokenUrl, { method: "POST", headers, body: body.toString(), signal });
    const limits = config.upstream;
    if (!response.ok) {
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"), clock.now());
      throw failureForStatus(response.status, retryAfter, oauthErrorCode(await readErrorText(response, limits.maxResponseBytes)));
    }
    const token = parseTokenResponse(await readBodyText(response, limits.maxResponseBytes), response.status);
    assertTokenSize(token.access_token, limits.maxTokenBytes, response.status);
    const tokenType = config.tokenType ?? normaliseTokenType(token.token_type);
    const { expiresAt } = resolveExpiry({
      expiresIn: token.expires_in,
      expiresOn: token.expires_on,
      accessToken: token.access_token,
      now: requestedAt,
      policy: config.cache,
    });
    return {
      tokenType,
      accessToken: token.access_token,
      headers: withHeader(extraHeaders, "Authorization", `${tokenType} ${token.access_token}`),
      expiresAt,
      issuedAt: requestedAt,
      fingerprint: fingerprint(token.access_token),
    };
  }
}

const RESERVED_PARAMS = new Set(["grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type"]);

/**
 * Callers put the type in front of the token verbatim, so it must be a scheme partners accept:
 * "bearer" in any case is "Bearer" (RFC 6750 recommends that spelling), and Ayyeka's "JWT" is sent
 * as Bearer, as its own documentation instructs.
 */
export function normaliseTokenType(tokenType: string | undefined): string {
  if (tokenType === undefined) return "Bearer";
  const lower = tokenType.toLowerCase();
  return lower === "bearer" || lower === "jwt" ? "Bearer" : tokenType;
}

function parseTokenResponse(text: string, status: number): z.infer<typeof TokenResponseSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UpstreamFailure("invalid", `HTTP ${status} (response is not JSON)`, { status });
  }
  const parsed = TokenResponseSchema.safeParse(raw);
  if (!parsed.success) throw new UpstreamFailure("invalid", `HTTP ${status} (no usable access_token)`, { status });
  return parsed.data;
}

function oauthErrorCode(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = ErrorResponseSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data.error : undefined;
  } catch {
    return undefined;
  }
}
