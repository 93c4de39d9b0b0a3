import { z } from "zod";
import type { Clock } from "../clock.js";
import type { HttpTokenProviderConfig } from "../config/http-token-schema.js";
import { assertTokenSize, discardBody, readBodyText } from "../http/bounded-body.js";
import type { FetchLike } from "../http/fetch-like.js";
import { fingerprint } from "../log/fingerprint.js";
import type { SecretStore } from "../secrets/secret-store.js";
import { resolveExpiry } from "../tokens/expiry.js";
import type { UpstreamCaller } from "../upstream/upstream-caller.js";
import { failureForStatus, parseRetryAfter, UpstreamFailure } from "../upstream/upstream-failure.js";
import { SourceCacheKeys } from "./cache-key.js";
import { issueThrough, type IssuedCredential, type IssueOptions, type PreparedSource, type TokenSource } from "./credential.js";
import { resolveHeaders, withHeader } from "./headers.js";
import { HEADER_SAFE } from "../http/header-safe.js";
import { readPath } from "../json/read-path.js";

export interface HttpTokenSourceDeps {
  name: string;
  config: HttpTokenProviderConfig;
  secrets: SecretStore;
  fetch: FetchLike;
  clock: Clock;
  caller: UpstreamCaller;
  /** The provider named by `config.authProvider` (e.g. the API-key source): its headers authenticate the mint. */
  auth: TokenSource;
}

const TokenValueSchema = z.string().min(1).regex(HEADER_SAFE);
const LifetimeSchema = z.union([z.number(), z.string()]).optional();

/**
 * A token minted by a partner endpoint that is itself authenticated by another provider's
 * credential (Silverflow "Create Agent Bearer Token", authenticated with the API key as Basic).
 */
export class HttpTokenSource implements TokenSource {
  readonly provider: string;
  private readonly keys: SourceCacheKeys;

  constructor(private readonly deps: HttpTokenSourceDeps) {
    this.provider = deps.name;
    this.keys = new SourceCacheKeys(deps.name);
  }

  async prepare(): Promise<PreparedSource> {
    const { config, secrets } = this.deps;
    const [auth, extra] = await Promise.all([this.deps.auth.prepare(), resolveHeaders(config.headers, secrets)]);
    // auth's key covers its secret versions: a rotated API key therefore mints a fresh token.
    const cacheKey = this.keys.for([...extra.versions, auth.cacheKey], () => ({
      kind: config.kind,
      url: config.url,
      method: config.method,
      body: config.body,
      response: config.response,
      tokenType: config.tokenType,
      headers: config.headers,
    }));
    return {
      cacheKey,
      issue: async (options: IssueOptions) => {
        const authCredential = await auth.issue(options);
        return issueThrough(this.deps.caller, options, (signal) => this.mint(authCredential.headers, extra.headers, signal));
      },
    };
  }

  private async mint(
    authHeaders: Record<string, string>,
    extraHeaders: Record<string, string>,
    signal: AbortSignal,
  ): Promise<IssuedCredential> {
    const { config, clock } = this.deps;
    const headers: Record<string, string> = { ...authHeaders, Accept: "application/json" };
    const init: RequestInit = { method: config.method, headers, signal };
    if (config.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(config.body);
    }
    const requestedAt = clock.now();
    const response = await this.deps.fetch(config.url, init);
    // No error details are repeated: the body of a failed mint is the partner's prose, not a code.
    if (!response.ok) {
      await discardBody(response, config.upstream.maxResponseBytes);
      throw failureForStatus(response.status, parseRetryAfter(response.headers.get("retry-after"), clock.now()));
    }
    const text = await readBodyText(response, config.upstream.maxResponseBytes);

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new UpstreamFailure("invalid", `HTTP ${response.status} (response is not JSON)`, { status: response.status });
    }
    const { tokenField, expiresInField, expiresAtField } = config.response;
    const token = TokenValueSchema.safeParse(readPath(body, tokenField));
    if (!token.success) {
      // The field name comes from configuration, so it is safe to repeat; the value is not.
      throw new UpstreamFailure("invalid", `HTTP ${response.status} (no usable token at "${tokenField}")`, {
        status: response.status,
      });
    }
    assertTokenSize(token.data, config.upstream.maxTokenBytes, response.status);
    const expiresIn = LifetimeSchema.safeParse(expiresInField ? readPath(body, expiresInField) : undefined);
    const expiresOn = LifetimeSchema.safeParse(expiresAtField ? readPath(body, expiresAtField) : undefined);
    const { expiresAt } = resolveExpiry({
      expiresIn: expiresIn.success ? expiresIn.data : undefined,
      expiresOn: expiresOn.success ? expiresOn.data : undefined,
      accessToken: token.data,
      now: requestedAt,
      policy: config.cache,
    });
    return {
      tokenType: config.tokenType,
      accessToken: token.data,
      headers: withHeader(extraHeaders, "Authorization", `${config.tokenType} ${token.data}`),
      expiresAt,
      issuedAt: requestedAt,
      fingerprint: fingerprint(token.data),
    };
  }
}
