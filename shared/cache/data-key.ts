import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Clock } from "../clock.js";
import { errorFields, type Logger } from "../log/logger.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion } from "../secrets/secret-store.js";
import { SingleFlight } from "../single-flight.js";
import { evictOldest } from "../evict-oldest.js";

export const DEFAULT_CACHE_KEY_SECRET = "broker-cache-key";

/** An AES-256 key and the secret version it came from (`kid` in stored entries). */
export interface DataKey {
  readonly kid: string;
  readonly key: Buffer;
}

export interface DataKeyRingOptions {
  secrets: SecretStore;
  clock: Clock;
  logger: Logger;
  /** Secret holding the key: 32 random bytes, base64. */
  secretName?: string;
  /** How long the current key is used before the store is asked for a newer version (rotation). */
  refreshMs?: number;
  /** After a failed load, no new attempt for this long (an outage must not cost a vault call per request). */
  retryMs?: number;
  /** Old versions kept in memory. */
  maxOldKeys?: number;
}

const KeyValueSchema = z
  .string()
  .regex(/^[A-Za-z0-9+/]{43}=$/, "must be 32 bytes of base64")
  .transform((value) => Buffer.from(value, "base64"))
  .refine((key) => key.length === 32, "must be 32 bytes");

/** A kid whose secret version does not exist (or holds no usable key): its entries can never be read. */
export const MISSING_KEY = "missing" as const;

/**
 * The data keys of the shared cache, kept in the secret store so every instance of the fleet uses
 * the same ones and an operator can rotate them: entries are written with the latest version and
 * read with whichever version they name. The key is created on first use when the secret does not
 * exist; two instances racing to create it both re-read the latest version afterwards, so they
 * settle on one.
 */
export class DataKeyRing {
  private readonly secretName: string;
  private readonly refreshMs: number;
  private readonly retryMs: number;
  private readonly maxOldKeys: number;
  private current: { key: DataKey; loadedAt: number } | undefined;
  private readonly loading = new SingleFlight<DataKey | undefined>();
  private retryAt = 0;
  /** By kid; insertion order is eviction order. */
  private readonly old = new Map<string, DataKey | typeof MISSING_KEY>();

  constructor(private readonly options: DataKeyRingOptions) {
    this.secretName = options.secretName ?? DEFAULT_CACHE_KEY_SECRET;
    this.refreshMs = options.refreshMs ?? 5 * 60_000;
    this.retryMs = options.retryMs ?? 30_000;
    this.maxOldKeys = options.maxOldKeys ?? 16;
  }

  /** The key to encrypt with; undefined while the secret store cannot provide one (entry not written). */
  async currentKey(): Promise<DataKey | undefined> {
    const now = this.options.clock.now();
    const current = this.current;
    if (current !== undefined && now - current.loadedAt < this.refreshMs) return current.key;
    // Stale is fine while a reload is failing: the old key still encrypts correctly.
    if (now < this.retryAt) return current?.key;
    return this.loading.join("current", () => this.loadCurrent(), undefined);
  }

  /** The key named by a stored entry; MISSING_KEY when that version cannot exist, undefined on a store outage. */
  async keyFor(kid: string): Promise<DataKey | typeof MISSING_KEY | undefined> {
    if (this.current?.key.kid === kid) return this.current.key;
    const known = this.old.get(kid);
    if (known !== undefined) return known;
    let result: DataKey | typeof MISSING_KEY;
    try {
      const secret = await this.options.secrets.get(this.secretName, kid);
      result = toDataKey(secret) ?? MISSING_KEY;
    } catch (error) {
      if (!(error instanceof SecretNotFoundError)) {
        this.options.logger.log("warn", "shared_cache_key_unavailable", { kid, ...errorFields(error) });
        return undefined;
      }
      result = MISSING_KEY;
    }
    this.old.set(kid, result);
    evictOldest(this.old, this.maxOldKeys);
    return result;
  }

  private async loadCurrent(): Promise<DataKey | undefined> {
    const previous = this.current?.key;
    try {
      let secret: SecretVersion;
      try {
        secret = await this.options.secrets.get(this.secretName);
      } catch (error) {
        if (!(error instanceof SecretNotFoundError)) throw error;
        await this.options.secrets.set(this.secretName, randomBytes(32).toString("base64"), {
          purpose: "broker-cache-key",
          "created-by": "token-broker",
        });
        this.options.logger.log("info", "shared_cache_key_created", { secret: this.secretName });
        // Re-read: another instance may have created one at the same moment; the latest wins everywhere.
        secret = await this.options.secrets.get(this.secretName);
      }
      const key = toDataKey(secret);
      if (key === undefined) {
        this.options.logger.log("error", "shared_cache_key_invalid", { secret: this.secretName, version: secret.version });
        this.retryAt = this.options.clock.now() + this.retryMs;
        return previous;
      }
      if (previous !== undefined && previous.kid !== key.kid) this.remember(previous);
      this.current = { key, loadedAt: this.options.clock.now() };
      return key;
    } catch (error) {
      this.options.logger.log("warn", "shared_cache_key_unavailable", errorFields(error));
      this.retryAt = this.options.clock.now() + this.retryMs;
      return previous;
    }
  }

  private remember(key: DataKey): void {
    this.old.set(key.kid, key);
  }
}

function toDataKey(secret: SecretVersion): DataKey | undefined {
  const parsed = KeyValueSchema.safeParse(secret.value.trim());
  return parsed.success ? { kid: secret.version, key: parsed.data } : undefined;
}
