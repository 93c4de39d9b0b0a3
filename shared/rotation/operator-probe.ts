import type { ApiKeyProviderConfig } from "../config/api-key-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import { discardBody } from "../http/bounded-body.js";
import type { PartnerPlatform } from "../platform.js";
import { assertHeaderValue, resolveHeaders } from "../providers/headers.js";
import type { SecretVersion } from "../secrets/secret-store.js";
import { UpstreamCaller } from "../upstream/upstream-caller.js";
import { UpstreamFailure, parseRetryAfter } from "../upstream/upstream-failure.js";
import { basicHeader } from "./key-api.js";
import { parseStoredKey } from "./stored-key.js";

/** The newest version failed the provider's probe; the previously accepted one stays in use. */
export class ProbeRejectedError extends BrokerError {
  constructor(provider: string, version: string, why: string) {
    super("upstream_rejected", `Version ${version} of the key of "${provider}" was not accepted (${why}); the previous version stays in use.`);
  }
}

/**
 * The provider's probe (config `probe`): one request to the partner with the credential built from
 * a version of the key secret, which operator rotation sends before it accepts that version. Sent
 * through the provider's upstream policy (retries, deadline, circuit) like any partner call.
 */
export class OperatorProbe {
  private readonly caller: UpstreamCaller;

  constructor(
    private readonly provider: string,
    private readonly config: ApiKeyProviderConfig,
    private readonly deps: PartnerPlatform,
  ) {
    this.caller = new UpstreamCaller(provider, config.upstream, deps);
  }

  /**
   * Resolves when the partner accepts the version, or when the provider has no probe. Throws
   * ProbeRejectedError when the version cannot form a credential or the partner answers with a
   * status the probe does not expect; a failing store or an unreachable partner throws as itself.
   */
  async check(version: SecretVersion): Promise<void> {
    const { provider, config } = this;
    const probe = config.probe;
    if (!probe) return;
    const extra = await resolveHeaders(config.headers, this.deps.secrets);
    let credential: Record<string, string>;
    try {
      credential =
        config.scheme === "basic"
          ? { Authorization: basicHeader(parseStoredKey(version)) }
          : { [config.header]: assertHeaderValue(`${config.prefix}${version.value}`, config.header) };
    } catch {
      throw new ProbeRejectedError(provider, version.version, "the value is not a usable credential");
    }
    const headers = { ...extra.headers, ...credential };
    const status = await this.caller.run(async (signal) => {
      const response = await this.deps.fetch(probe.url, { method: probe.method, headers, signal });
      await discardBody(response, config.upstream.maxResponseBytes);
      if (response.status === 429 || response.status >= 500) {
        const retryAfterSec = parseRetryAfter(response.headers.get("retry-after"), this.deps.clock.now());
        throw new UpstreamFailure("transient", `HTTP ${response.status}`, { status: response.status, retryAfterSec });
      }
      return response.status;
    });
    if (!probe.expectStatus.includes(status)) throw new ProbeRejectedError(provider, version.version, `probe answered HTTP ${status}`);
  }
}
