import type { CallerConfig } from "../config/caller-schema.js";
import { ConfigError } from "../config/load.js";
import { BrokerError } from "../errors/broker-error.js";
import type { VerifiedCaller } from "./caller-verifier.js";

interface CallerEntry {
  name: string;
  providers: ReadonlySet<string>;
  operator: boolean;
}

/**
 * Authorisation: which configured caller a verified token belongs to, and what it may do. A caller
 * is the pair (issuer key, id): the same `azp` from another issuer is somebody else. Everything not
 * granted is denied. Lookups are precomputed so a request costs two Map reads.
 */
export class CallerPolicy {
  /** issuer key -> caller id -> entry. Nested maps avoid building a composite key per request. */
  private readonly byIssuer = new Map<string, Map<string, CallerEntry>>();

  constructor(callers: Record<string, CallerConfig>) {
    for (const [name, config] of Object.entries(callers)) {
      const id = config.id ?? name;
      let ids = this.byIssuer.get(config.issuer);
      if (!ids) {
        ids = new Map();
        this.byIssuer.set(config.issuer, ids);
      }
      const clash = ids.get(id);
      if (clash) {
        // Two entries for one identity would make the grants depend on declaration order.
        throw new ConfigError(`callers "${clash.name}" and "${name}" both match issuer "${config.issuer}" id "${id}"`, [
          `callers.${name}: same issuer and id as callers.${clash.name}`,
        ]);
      }
      ids.set(id, { name, providers: new Set(config.providers), operator: config.roles.includes("operator") });
    }
  }

  /** The configured caller name, or undefined for a valid token nobody registered. */
  identify(caller: VerifiedCaller): string | undefined {
    return this.entry(caller)?.name;
  }

  /** Returns the caller name; throws caller_forbidden unless this caller was granted the provider. */
  authorizeProvider(caller: VerifiedCaller, provider: string): string {
    const entry = this.entry(caller);
    if (!entry) throw notRegistered();
    if (!entry.providers.has(provider)) {
      throw new BrokerError("caller_forbidden", `Caller "${entry.name}" is not granted this provider.`);
    }
    return entry.name;
  }

  /** Returns the caller name; throws caller_forbidden unless the caller has the operator role. */
  authorizeOperator(caller: VerifiedCaller): string {
    const entry = this.entry(caller);
    if (!entry) throw notRegistered();
    if (!entry.operator) throw new BrokerError("caller_forbidden", `Caller "${entry.name}" does not have the operator role.`);
    return entry.name;
  }

  private entry(caller: VerifiedCaller): CallerEntry | undefined {
    return this.byIssuer.get(caller.issuer)?.get(caller.id);
  }
}

function notRegistered(): BrokerError {
  return new BrokerError("caller_forbidden", "Caller is not registered with the broker.");
}
