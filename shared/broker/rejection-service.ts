import type { BrokerConfig } from "../config/schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { providerLabel } from "../http/provider-label.js";
import { type Parsed, parsedValue } from "../http/request-params.js";
import type { Logger } from "../log/logger.js";
import type { IssuedCredential } from "../providers/credential.js";
import type { RejectedCredentialReplacer } from "../tokens/rejected-replacement.js";
import type { TokenCache } from "../tokens/token-cache.js";
import { credentialMetadata, type CredentialMetadata } from "./credential-metadata.js";
import type { TokenService } from "./token-service.js";

export interface RejectionReport {
  authorization: string | null | undefined;
  provider: string;
  /** The fingerprint the body reports. */
  fingerprint: Parsed<string>;
}

/** With the metadata of the credential now served. */
export interface RejectionResult extends CredentialMetadata {
  provider: string;
  /** `replaced`: a new credential was obtained; `already_replaced`: the reported one is no longer served. */
  outcome: "replaced" | "already_replaced";
}

export interface RejectionServiceDeps {
  config: BrokerConfig;
  tokens: TokenService;
  cache: TokenCache;
  replacer: RejectedCredentialReplacer;
  logger: Logger;
}

/**
 * `POST /api/token/{provider}/rejected`: a caller says the partner refused a credential the
 * broker still serves (revoked at the partner, clock skew, a key retired early). The reported
 * fingerprint must be the provider's current credential — then it is replaced once, fleet-wide —
 * or one this instance served to this caller before (`already_replaced`, nothing done). Any
 * other fingerprint is a 400: a report is never a way to force a partner call. Every report
 * leaves one `credential_rejected` audit line.
 */
export class RejectionService {
  constructor(private readonly deps: RejectionServiceDeps) {}

  async report(report: RejectionReport): Promise<RejectionResult> {
    let caller: string | undefined;
    let reported: string | undefined;
    try {
      const authorized = await this.deps.tokens.authorizeCaller(report.authorization, report.provider);
      caller = authorized.caller;
      reported = parsedValue(report.fingerprint);
      const provider = report.provider;
      const settings = this.deps.config.providers[provider]!;
      const current = await this.deps.cache.get(authorized.source, settings.cache, { minTtlSec: 0 });
      if (current.credential.fingerprint !== reported) {
        if (!this.deps.tokens.served.wasServed(caller, provider, reported)) {
          throw new BrokerError("bad_request", "That credential was never served to this caller; nothing to replace.");
        }
        this.audit(caller, provider, reported, "already_replaced", current.credential.fingerprint);
        return this.result(provider, "already_replaced", current.credential);
      }
      const replacement = await this.deps.replacer.replace(
        authorized.source,
        settings.cache,
        current.cacheKey,
        reported,
        settings.rejectedMinIntervalSec,
      );
      this.audit(caller, provider, reported, "replaced", replacement.credential.fingerprint, replacement.fetched);
      return this.result(provider, "replaced", replacement.credential);
    } catch (error) {
      const e = toBrokerError(error);
      this.audit(caller, report.provider, reported, e.code, undefined, undefined, e.status >= 500 ? "warn" : "info");
      throw e;
    }
  }

  private result(provider: string, outcome: RejectionResult["outcome"], credential: IssuedCredential): RejectionResult {
    return { provider, outcome, ...credentialMetadata(credential) };
  }

  private audit(
    caller: string | undefined,
    provider: string,
    reported: string | undefined,
    outcome: string,
    current?: string,
    fetched?: boolean,
    level: "info" | "warn" = "info",
  ): void {
    this.deps.logger.log(level, "credential_rejected", {
      caller,
      provider: providerLabel(provider, this.deps.config.providers),
      fingerprint: reported,
      outcome,
      current_fingerprint: current,
      partner_fetch: fetched,
    });
  }
}
