import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";
import type { SecretVersion } from "../secrets/secret-store.js";

/**
 * The key secret of a partner-api rotating provider: the api-key source reads `id` and `secret`
 * (and ignores the rest); rotation keeps the previous key next to the current one until it is
 * retired, so no instant exists where the only working key is held nowhere.
 */
const IsoTime = z.iso.datetime({ offset: true });

export const PreviousKeySchema = z.object({
  id: z.string().min(1),
  secret: z.string().min(1),
  retireAt: IsoTime,
});

export const StoredKeySchema = z.looseObject({
  id: z.string().min(1),
  secret: z.string().min(1),
  createdAt: IsoTime.optional(),
  rotationId: z.string().min(1).optional(),
  previous: PreviousKeySchema.optional(),
});

export interface StoredKey {
  id: string;
  secret: string;
  /** Epoch ms: the payload's createdAt, else the secret version's creation (a hand-written key). */
  createdAt: number;
  rotationId?: string;
  previous?: { id: string; secret: string; retireAt: number };
  /** The secret version the key was read from. */
  version: string;
}

/** Tag on every key secret version the broker writes: lets the sweep protect keys without reading values. */
export const KEY_ID_TAG = "keyId";

export function parseStoredKey(secret: SecretVersion): StoredKey {
  let raw: unknown;
  try {
    raw = JSON.parse(secret.value);
  } catch {
    // No cause: V8's JSON error quotes the start of the input, i.e. the secret.
    throw invalid(secret.name, "is not JSON");
  }
  const parsed = StoredKeySchema.safeParse(raw);
  if (!parsed.success) throw invalid(secret.name, 'lacks valid fields "id" and "secret"');
  const p = parsed.data;
  if (p.id.includes(":")) throw invalid(secret.name, 'holds a key id containing ":"');
  return {
    id: p.id,
    secret: p.secret,
    createdAt: p.createdAt === undefined ? secret.createdOn : Date.parse(p.createdAt),
    ...(p.rotationId === undefined ? {} : { rotationId: p.rotationId }),
    ...(p.previous === undefined
      ? {}
      : { previous: { id: p.previous.id, secret: p.previous.secret, retireAt: Date.parse(p.previous.retireAt) } }),
    version: secret.version,
  };
}

export function serializeStoredKey(key: Omit<StoredKey, "version">): string {
  return JSON.stringify({
    id: key.id,
    secret: key.secret,
    createdAt: new Date(key.createdAt).toISOString(),
    ...(key.rotationId === undefined ? {} : { rotationId: key.rotationId }),
    ...(key.previous === undefined
      ? {}
      : { previous: { id: key.previous.id, secret: key.previous.secret, retireAt: new Date(key.previous.retireAt).toISOString() } }),
  });
}

function invalid(name: string, why: string): BrokerError {
  return new BrokerError("secret_unavailable", `Secret "${name}" ${why}; expected {"id","secret"}.`);
}
