import type { CommandResult } from "./redis-commands.js";
import type { RedisConnection } from "./redis-connection.js";

/**
 * A lease in Redis whose value is a fencing token: `SET lock NX PX ttl` with the token taken
 * from `INCR fence` in the same script, so tokens grow with every grant and no number is
 * wasted on a failed attempt. Release and checks compare the token, so a holder whose lease
 * expired can neither free nor extend its successor's. Shared by RedisLock and the fleet
 * single-flight.
 */
const ACQUIRE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder then return {0, holder} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return {1, token}`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Remaining lease in ms while the token holds it, else -1. */
const HOLDS_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PTTL', KEYS[1]) end
return -1`;

export type AcquireOutcome = { acquired: true; token: number } | { acquired: false; holder: number | undefined };

export async function acquireLease(
  connection: RedisConnection,
  operation: string,
  lockKey: string,
  fenceKey: string,
  ttlMs: number,
): Promise<CommandResult<AcquireOutcome>> {
  const result = await connection.run(operation, (client) =>
    client.eval(ACQUIRE_SCRIPT, { keys: [lockKey, fenceKey], arguments: [String(Math.max(1, Math.ceil(ttlMs)))] }),
  );
  if (!result.ok) return result;
  const reply = result.value;
  if (!Array.isArray(reply) || reply.length !== 2) return { ok: false };
  const token = toToken(reply[1]);
  if (reply[0] === 1 && token !== undefined) return { ok: true, value: { acquired: true, token } };
  return { ok: true, value: { acquired: false, holder: token } };
}

export async function releaseLease(connection: RedisConnection, operation: string, lockKey: string, token: number): Promise<boolean> {
  const result = await connection.run(operation, (client) =>
    client.eval(RELEASE_SCRIPT, { keys: [lockKey], arguments: [String(token)] }),
  );
  return result.ok && result.value === 1;
}

/** Remaining ms of the lease while `token` holds it; 0 when it does not; undefined when Redis failed. */
export async function leaseRemaining(
  connection: RedisConnection,
  operation: string,
  lockKey: string,
  token: number,
): Promise<number | undefined> {
  const result = await connection.run(operation, (client) =>
    client.eval(HOLDS_SCRIPT, { keys: [lockKey], arguments: [String(token)] }),
  );
  if (!result.ok) return undefined;
  return typeof result.value === "number" && result.value > 0 ? result.value : 0;
}

/** Lock values and fencing counters are decimal integers; anything else is not a token. */
export function toToken(value: unknown): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" && /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
