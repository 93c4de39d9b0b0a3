import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";

/**
 * The JSON held by a key secret (an API key of scheme "basic", e.g. Silverflow's key + secret).
 * This is the one schema of that secret: rotation extends it with its bookkeeping (previous,
 * createdAt, rotationId, in `rotation/stored-key.ts`), while the token path reads only id/secret
 * and lets unknown fields pass, so serving never fails on rotation's bookkeeping.
 */
export const ApiKeyPayloadSchema = z.looseObject({
  id: z.string().min(1),
  secret: z.string().min(1),
});
export type ApiKeyPayload = z.infer<typeof ApiKeyPayloadSchema>;

/**
 * Parses an API-key payload. Errors name the secret but never quote its value or zod's issues
 * (zod messages can echo the received input).
 */
export function parseApiKeyPayload(value: string, secretName: string): ApiKeyPayload {
  return parseKeySecret(value, secretName, ApiKeyPayloadSchema, 'lacks non-empty string fields "id" and "secret"');
}

/** Parses a key secret's JSON with `schema` (the payload schema or an extension of it). */
export function parseKeySecret<S extends z.ZodType<ApiKeyPayload>>(value: string, secretName: string, schema: S, whyInvalid: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    // No cause: V8's JSON error quotes the start of the input, i.e. the secret.
    throw invalidKeySecret(secretName, "is not JSON");
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw invalidKeySecret(secretName, whyInvalid);
  return parsed.data;
}

export function invalidKeySecret(secretName: string, why: string): BrokerError {
  return new BrokerError("secret_unavailable", `Secret "${secretName}" ${why}; expected {"id","secret"}.`);
}
