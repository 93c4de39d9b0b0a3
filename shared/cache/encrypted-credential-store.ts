import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { z } from "zod";
import { parseJsonOrUndefined } from "../json/parse-json.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log/logger.js";
import type { IssuedCredential } from "../providers/credential.js";
import type { SecretStore } from "../secrets/secret-store.js";
import { SECRET_VERSION_PATTERN } from "../secrets/secret-name.js";
import { DataKeyRing, MISSING_KEY, type DataKeyRingOptions } from "./data-key.js";
import type { RedisConnection } from "./redis-connection.js";
import { providerOfCacheKey, RedisKeys } from "./redis-keys.js";

export interface RedisCredentialStoreOptions {
  connection: RedisConnection;
  secrets: SecretStore;
  clock: Clock;
  logger: Logger;
  keys?: RedisKeys;
  /** Secret holding the data key (default "broker-cache-key"); created when absent. */
  keySecretName?: string;
  /** How often a rotated data key is picked up (default 5 min). */
  keyRefreshMs?: number;
  /** Pause after the secret store failed to provide the key (default 30 s). */
  keyRetryMs?: number;
}

/** A lock the write is conditional on (fleet single-flight): written only while it holds `token`. */
export interface WriteFence {
  lockKey: string;
  token: number;
}

const B64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

const EnvelopeSchema = z
  .object({
    v: z.literal(1),
    kid: z.string().regex(SECRET_VERSION_PATTERN),
    iv: B64.length(16), // 12 bytes
    ct: B64.min(4),
    tag: B64.length(24), // 16 bytes
  })
  .strict();

const CredentialSchema = z
  .object({
    tokenType: z.string(),
    accessToken: z.string().optional(),
    headers: z.record(z.string(), z.string()),
    expiresAt: z.number().finite(),
    issuedAt: z.number().finite(),
    fingerprint: z.string(),
  })
  .strict();

/**
 * KEYS: value, provider index[, lock]; ARGV: payload, ttl ms[, fencing token]. With a lock, writes
 * only while that lock still holds the token, so a holder that stalled past its lease cannot
 * overwrite its successor's result. The index lives as long as its longest-lived entry.
 */
const PUT_SCRIPT = `
if #KEYS >= 3 and redis.call('GET', KEYS[3]) ~= ARGV[3] then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1`;

/** KEYS: value, index; ARGV: expected payload or "" for unconditional. */
const DELETE_SCRIPT = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], KEYS[1])
return 1`;

/** KEYS: index. Every member shares the index's hash tag, so they live in its slot. */
const DELETE_PROVIDER_SCRIPT = `
local members = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(members) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return #members`;

/**
 * The shared (second-level) credential cache in Redis. Entries are tokens, so they are encrypted
 * with AES-256-GCM under a data key from the secret store (random 96-bit IV, the cache key as
 * additional data so an entry cannot be replayed under another key), stored as
 * `{"v":1,"kid","iv","ct","tag"}` and expire with the credential. Anything that goes wrong is a
 * miss: Redis down, key unavailable, an entry that fails to decrypt or validate (which is also
 * deleted, unless it was replaced meanwhile).
 */
export class RedisCredentialStore {
  readonly keys: RedisKeys;
  private readonly connection: RedisConnection;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly ring: DataKeyRing;

  constructor(options: RedisCredentialStoreOptions) {
    this.connection = options.connection;
    this.clock = options.clock;
    this.logger = options.logger;
    this.keys = options.keys ?? new RedisKeys();
    const ringOptions: DataKeyRingOptions = {
      secrets: options.secrets,
      clock: options.clock,
      logger: options.logger,
      secretName: options.keySecretName,
      refreshMs: options.keyRefreshMs,
      retryMs: options.keyRetryMs,
    };
    this.ring = new DataKeyRing(ringOptions);
  }

  async get(key: string): Promise<IssuedCredential | undefined> {
    const result = await this.connection.run("cache_get", (client) => client.get(this.keys.credential(key)));
    if (!result.ok) return undefined;
    return this.decode(key, result.value);
  }

  async put(key: string, credential: IssuedCredential): Promise<void> {
    await this.write(key, credential, undefined);
  }

  /** The fenced write of a fleet flight holder; true when written. */
  async putIfHolding(key: string, credential: IssuedCredential, fence: WriteFence): Promise<boolean> {
    return this.write(key, credential, fence);
  }

  async delete(key: string): Promise<void> {
    await this.connection.run("cache_delete", (client) =>
      client.eval(DELETE_SCRIPT, { keys: [this.keys.credential(key), this.indexOf(key)], arguments: [""] }),
    );
  }

  /** Drops every entry of a provider (all secret versions and parameters); false when Redis failed. */
  async deleteProvider(provider: string): Promise<boolean> {
    const result = await this.connection.run("cache_delete_provider", (client) =>
      client.eval(DELETE_PROVIDER_SCRIPT, { keys: [this.keys.providerIndex(provider)] }),
    );
    return result.ok;
  }

  /**
   * Turns a raw Redis value into a credential: undefined for no value, an expired credential or an
   * entry that cannot be read (then deleted). Used by the fleet coordinator for pipelined reads.
   */
  async decode(key: string, raw: unknown): Promise<IssuedCredential | undefined> {
    if (raw === null || raw === undefined) return undefined;
    if (typeof raw !== "string") return this.unreadable(key, undefined, "not_a_string");
    const json = parseJsonOrUndefined(raw);
    if (json === undefined) return this.unreadable(key, raw, "not_json");
    const envelope = EnvelopeSchema.safeParse(json);
    if (!envelope.success) return this.unreadable(key, raw, "bad_envelope");
    const dataKey = await this.ring.keyFor(envelope.data.kid);
    if (dataKey === undefined) return undefined; // secret store outage: a miss, the entry may be fine
    if (dataKey === MISSING_KEY) return this.unreadable(key, raw, "unknown_kid");
    let plaintext: string;
    try {
      const decipher = createDecipheriv("aes-256-gcm", dataKey.key, Buffer.from(envelope.data.iv, "base64"));
      decipher.setAAD(Buffer.from(key, "utf8"));
      decipher.setAuthTag(Buffer.from(envelope.data.tag, "base64"));
      plaintext = Buffer.concat([decipher.update(Buffer.from(envelope.data.ct, "base64")), decipher.final()]).toString("utf8");
    } catch {
      return this.unreadable(key, raw, "decrypt_failed");
    }
    const credential = CredentialSchema.safeParse(parseJsonOrUndefined(plaintext));
    if (!credential.success) return this.unreadable(key, raw, "bad_payload");
    if (credential.data.expiresAt <= this.clock.now()) return undefined;
    return credential.data;
  }

  private async write(key: string, credential: IssuedCredential, fence: WriteFence | undefined): Promise<boolean> {
    const ttlMs = Math.floor(credential.expiresAt - this.clock.now());
    if (!(ttlMs > 0)) return false;
    const dataKey = await this.ring.currentKey();
    if (dataKey === undefined) return false; // logged by the key ring
    const payload = encrypt(key, credential, dataKey.kid, dataKey.key);
    const keys = [this.keys.credential(key), this.indexOf(key)];
    const args = [payload, String(ttlMs)];
    if (fence) {
      keys.push(fence.lockKey);
      args.push(String(fence.token));
    }
    const result = await this.connection.run(fence ? "cache_put_fenced" : "cache_put", (client) =>
      client.eval(PUT_SCRIPT, { keys, arguments: args }),
    );
    return result.ok && result.value === 1;
  }

  private async unreadable(key: string, raw: string | undefined, reason: string): Promise<undefined> {
    this.logger.log("warn", "shared_cache_entry_dropped", { provider: providerOfCacheKey(key), reason });
    // Compare-and-delete: another instance may have just replaced the entry with a good one.
    // A failure here is counted by the connection; the entry then just expires.
    await this.connection.run("cache_drop", (client) =>
      client.eval(DELETE_SCRIPT, { keys: [this.keys.credential(key), this.indexOf(key)], arguments: [raw ?? ""] }),
    );
    return undefined;
  }

  private indexOf(key: string): string {
    return this.keys.providerIndex(providerOfCacheKey(key));
  }
}

function encrypt(key: string, credential: IssuedCredential, kid: string, dataKey: Buffer): string {
  // Only the known fields: nothing else a source may have attached ends up in Redis.
  const plaintext = JSON.stringify({
    tokenType: credential.tokenType,
    accessToken: credential.accessToken,
    headers: credential.headers,
    expiresAt: credential.expiresAt,
    issuedAt: credential.issuedAt,
    fingerprint: credential.fingerprint,
  });
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", dataKey, iv);
  cipher.setAAD(Buffer.from(key, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return JSON.stringify({
    v: 1,
    kid,
    iv: iv.toString("base64"),
    ct: ct.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
  });
}
