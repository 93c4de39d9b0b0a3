import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";

/**
 * The JSON held by an API-key secret of scheme "basic" (Silverflow key + secret). Rotation stores
 * more next to id/secret (previous, createdAt, rotationId): unknown fields are accepted and kept
 * out of the way, so the two sides can evolve independently.
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
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    throw invalidPayload(secretName, "is not JSON");
  }
  const parsed = ApiKeyPayloadSchema.safeParse(raw);
  if (!parsed.success) throw invalidPayload(secretName, 'lacks non-empty string fields "id" and "secret"');
  return parsed.data;
}

function invalidPayload(secretName: string, why: string): BrokerError {
  return new BrokerError("secret_unavailable", `Secret "${secretName}" ${why}; expected {"id","secret"}.`);
}
