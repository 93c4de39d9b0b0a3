import { z } from "zod";
import { parseJsonOrUndefined } from "../json/parse-json.js";
import { ERROR_STATUS, type ErrorCode } from "../errors/codes.js";
import type { PeerFailure } from "./lease-wait.js";

// What the fleet single-flight (fleet-single-flight.ts) keeps in Redis and says on its channel.
// Everything read back is validated: another instance, or anything else that can write to Redis,
// must not be able to make a waiter fail with a code that does not exist.

const CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

const FailureSchema: z.ZodType<PeerFailure> = z
  .object({
    token: z.number().int().positive(),
    code: z.enum(CODES),
    retryAfterSec: z.number().nonnegative().max(86_400).optional(),
  })
  .strict();

const MessageSchema = z
  .object({
    key: z.string().min(1).max(512),
    token: z.number().int().positive(),
    outcome: z.enum(["ok", "error"]),
    code: z.enum(CODES).optional(),
    retryAfterSec: z.number().nonnegative().max(86_400).optional(),
  })
  .strict();

/** KEYS: lock, value, failure. One atomic snapshot, so "lock gone" implies the holder's writes are visible. */
export const STATE_SCRIPT = `
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}`;

/** KEYS: lock, failure; ARGV: token, failure JSON or "", failure TTL. Ends a flight if still held. */
export const FINISH_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
redis.call('DEL', KEYS[1])
return 1`;

/** A flight's end as announced on the channel: the failure is the holder's code only, never a message. */
export function completionMessage(key: string, token: number, failure: PeerFailure | undefined): string {
  const message = failure
    ? { key, token, outcome: "error", code: failure.code, retryAfterSec: failure.retryAfterSec }
    : { key, token, outcome: "ok" };
  return JSON.stringify(message);
}

/** An announcement heard on the channel; undefined for anything that is not one. */
export function parseCompletion(raw: string): { key: string; failure: PeerFailure | undefined } | undefined {
  const message = MessageSchema.safeParse(parseJsonOrUndefined(raw));
  if (!message.success) return undefined;
  const { key, token, code, retryAfterSec } = message.data;
  return { key, failure: message.data.outcome === "error" && code !== undefined ? { token, code, retryAfterSec } : undefined };
}

/** The failure record a holder left for waiters that poll. */
export function parseFailure(raw: unknown): PeerFailure | undefined {
  if (typeof raw !== "string") return undefined;
  const parsed = FailureSchema.safeParse(parseJsonOrUndefined(raw));
  return parsed.success ? parsed.data : undefined;
}

