import type { Clock } from "../clock.js";
import type { ApiKeyProviderConfig } from "../config/api-key-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import { fingerprint } from "../log/fingerprint.js";
import { acceptedVersion, readJournal } from "../rotation/journal.js";
import type { SecretStore, SecretVersion } from "../secrets/secret-store.js";
import { SourceCacheKeys } from "./cache-key.js";
import type { IssuedCredential, PreparedSource, TokenSource } from "./credential.js";
import { assertHeaderValue, resolveHeaders, withHeader } from "./headers.js";
import { parseApiKeyPayload } from "./secret-payloads.js";
import { hasControlCharacter } from "../http/header-safe.js";

export interface ApiKeySourceDeps {
  name: string;
  config: ApiKeyProviderConfig;
  secrets: SecretStore;
  clock: Clock;
}

export interface PreparedApiKey extends PreparedSource {
  /** For status output: the partner's key id (basic) or a fingerprint of the raw key (header). */
  keyId: string;
}

/**
 * A static partner key (Silverflow key+secret as Basic, PhixFlow raw key in a header). Nothing is
 * fetched: `issue()` formats the latest secret version. The secret's version is in the cache key,
 * so a rotated key is served as soon as the caching secret store re-reads it, without a restart.
 */
export class ApiKeySource implements TokenSource {
  readonly provider: string;
  private readonly keys: SourceCacheKeys;

  constructor(private readonly deps: ApiKeySourceDeps) {
    this.provider = deps.name;
    this.keys = new SourceCacheKeys(deps.name);
  }

  async prepare(): Promise<PreparedApiKey> {
    const { config, secrets } = this.deps;
    const [secret, extra] = await Promise.all([this.keySecret(), resolveHeaders(config.headers, secrets)]);
    const { tokenType, header, value, keyId, keyFingerprint } =
      config.scheme === "basic" ? basicCredential(secret.value, secret.name) : headerCredential(config, secret.value);
    const versions = [`${secret.name}@${secret.version}`, ...extra.versions];
    const cacheKey = this.keys.for(versions, () => ({
      kind: config.kind,
      scheme: config.scheme,
      header: config.header,
      prefix: config.prefix,
      headers: config.headers,
    }));
    return {
      cacheKey,
      keyId,
      issue: async (): Promise<IssuedCredential> => {
        const now = this.deps.clock.now();
        // The key itself does not expire; this is how long a caller may reuse it before asking again.
        const lifetimeSec = Math.min(config.cache.defaultTtlSec, config.cache.maxTtlSec);
        return {
          tokenType,
          headers: withHeader(extra.headers, header, value),
          expiresAt: now + lifetimeSec * 1000,
          issuedAt: now,
          fingerprint: keyFingerprint,
        };
      },
    };
  }

  /**
   * The key version to serve. An operator-rotated key guarded by a probe is pinned to the version
   * rotation accepted (journal), so a new version is served only once it has been verified.
   */
  private async keySecret(): Promise<SecretVersion> {
    const { config, secrets } = this.deps;
    if (config.rotation?.mode !== "operator" || !config.probe) return secrets.get(config.key.secret);
    const version = acceptedVersion(await readJournal(secrets, config.key.secret));
    return secrets.get(config.key.secret, version);
  }
}

interface StaticCredential {
  tokenType: string;
  header: string;
  value: string;
  keyId: string;
  keyFingerprint: string;
}

/** RFC 7617: base64(UTF-8 of id ":" secret), no form-encoding (unlike OAuth client auth). */
function basicCredential(secretValue: string, secretName: string): StaticCredential {
  const payload = parseApiKeyPayload(secretValue, secretName);
  if (payload.id.includes(":")) {
    // RFC 7617 §2: the user-id cannot contain a colon; the partner would split it differently.
    throw new BrokerError("secret_unavailable", `Secret "${secretName}" holds a key id containing ":", which Basic auth cannot carry.`);
  }
  if (hasControlCharacter(payload.id + payload.secret)) {
    throw new BrokerError("secret_unavailable", `Secret "${secretName}" holds a key id or secret with control characters.`);
  }
  return {
    tokenType: "Basic",
    header: "Authorization",
    value: "Basic " + Buffer.from(`${payload.id}:${payload.secret}`, "utf8").toString("base64"),
    keyId: payload.id,
    keyFingerprint: fingerprint(payload.secret),
  };
}

function headerCredential(config: ApiKeyProviderConfig, raw: string): StaticCredential {
  const keyFingerprint = fingerprint(raw);
  return {
    tokenType: "ApiKey",
    header: config.header,
    value: assertHeaderValue(`${config.prefix}${raw}`, config.header),
    keyId: keyFingerprint,
    keyFingerprint,
  };
}
