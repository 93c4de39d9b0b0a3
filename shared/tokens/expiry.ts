import { decodeJwt } from "jose";
import type { CachePolicy } from "../config/schema.js";

export type ExpirySource = "expires_in" | "expires_on" | "jwt_exp" | "default";

export interface ExpiryInput {
  /** Seconds from `now` (partner's `expires_in`): a number or a numeric string. */
  expiresIn?: unknown;
  /** Absolute expiry: epoch seconds (number or numeric string) or an ISO 8601 date. */
  expiresOn?: unknown;
  /** Its `exp` claim is read (unverified) when the partner states no lifetime. */
  accessToken?: string | undefined;
  /** Epoch ms the lifetime counts from: take it before the request, so any error is on the safe side. */
  now: number;
  policy: Pick<CachePolicy, "defaultTtlSec" | "maxTtlSec">;
}

export interface ResolvedExpiry {
  expiresAt: number;
  source: ExpirySource;
  /** True when the partner's claim exceeded `maxTtlSec` and was cut down. */
  capped: boolean;
}

/**
 * The lifetime of a freshly issued credential. Partners disagree on how they say it, so each hint is
 * tried in order of reliability; a hint that makes no sense (not a number, zero, negative, already
 * past) is ignored rather than trusted, and whatever wins is capped at `maxTtlSec` so one bad answer
 * cannot pin a token in the cache for days.
 */
export function resolveExpiry(input: ExpiryInput): ResolvedExpiry {
  const { now, policy } = input;
  const found = fromExpiresIn(input.expiresIn, now) ?? fromExpiresOn(input.expiresOn, now) ?? fromJwt(input.accessToken, now);
  const [claimed, source] = found ?? [now + policy.defaultTtlSec * 1000, "default" as const];
  const cap = now + policy.maxTtlSec * 1000;
  return { expiresAt: Math.floor(Math.min(claimed, cap)), source, capped: claimed > cap };
}

type Candidate = [expiresAt: number, source: ExpirySource];

function fromExpiresIn(value: unknown, now: number): Candidate | undefined {
  const seconds = numeric(value);
  if (seconds === undefined || seconds <= 0) return undefined;
  return [now + seconds * 1000, "expires_in"];
}

/**
 * Above this an "epoch seconds" value can only be epoch milliseconds (1e11 s is the year 5138):
 * reading it as seconds would make a one-hour token look immortal.
 */
const MS_THRESHOLD = 1e11;

function fromExpiresOn(value: unknown, now: number): Candidate | undefined {
  let at: number | undefined;
  const n = numeric(value);
  if (n !== undefined) at = n >= MS_THRESHOLD ? n : n * 1000;
  // Only ISO-looking strings: Date.parse also accepts oddities such as "1.5" (a date in 2001).
  else if (typeof value === "string" && /^\s*\d{4}-\d{2}-\d{2}([T ]|\s*$)/.test(value)) at = Date.parse(value.trim());
  if (at === undefined || !Number.isFinite(at) || at <= now) return undefined;
  return [at, "expires_on"];
}

function fromJwt(token: string | undefined, now: number): Candidate | undefined {
  if (!token) return undefined;
  let exp: unknown;
  try {
    // Unverified on purpose: the broker is not the audience; it only needs a hint of the lifetime.
    exp = decodeJwt(token).exp;
  } catch {
    return undefined; // opaque tokens are normal
  }
  if (typeof exp !== "number" || !Number.isFinite(exp)) return undefined;
  const at = exp * 1000;
  return at > now ? [at, "jwt_exp"] : undefined;
}

function numeric(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}
