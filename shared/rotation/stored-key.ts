import { z } from "zod";
import { ApiKeyPayloadSchema, invalidKeySecret, parseKeySecret } from "../providers/secret-payloads.js";
import type { SecretVersion } from "../secrets/secret-store.js";
import { iso } from "../clock.js";

/**
 * The key secret of a partner-api rotating provider: the api-key source's payload (`id`, `secret`)
 * plus rotation's bookkeeping. Rotation keeps the previous key next to the current one until it is
 * retired, so no instant exists where the only working key is held nowhere.
 */
const IsoTime = z.iso.datetime({ offset: true });

export const PreviousKeySchema = z.object({
  ...ApiKeyPayloadSchema.shape,
  retireAt: IsoTime,
});

export const StoredKeySchema = ApiKeyPayloadSchema.extend({
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
  const p = parseKeySecret(secret.value, secret.name, StoredKeySchema, 'lacks valid fields "id" and "secret"');
  if (p.id.includes(":")) throw invalidKeySecret(secret.name, 'holds a key id containing ":"');
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
    createdAt: iso(key.createdAt),
    ...(key.rotationId === undefined ? {} : { rotationId: key.rotationId }),
    ...(key.previous === undefined
      ? {}
      : { previous: { id: key.previous.id, secret: key.previous.secret, retireAt: iso(key.previous.retireAt) } }),
  });
}
