import { decodeJwt } from "jose";
import type { CachePolicy } from "../config/provider-base-schema.js";
import { UpstreamFailure } from "../upstream/upstream-failure.js";

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
 * tried in order of reliability; a hint that cannot be read (not a number, an unknown date format)
 * is ignored. A hint that says the credential is already expired (`expires_in` of zero or less,
 * `expires_on` or a JWT `exp` not after `now`) is believed: such a credential would be refused by
 * the partner, so it is an unusable answer (UpstreamFailure "invalid"), never a cached one. The
 * JWT `exp` is read even when the partner states a lifetime, to catch a token that is dead on
 * arrival; a relative `expires_in` still wins over absolute times, which carry the partner's clock
 * skew. Whatever wins is capped at `maxTtlSec` so one bad answer cannot pin a token for days.
 */
export function resolveExpiry(input: ExpiryInput): ResolvedExpiry {
  const { now, policy } = input;
  const jwtExp = fromJwt(input.accessToken, now);
  const found = fromExpiresIn(input.expiresIn, now) ?? fromExpiresOn(input.expiresOn, now) ?? jwtExp;
  const [claimed, source] = found ?? [now + policy.defaultTtlSec * 1000, "default" as const];
  const cap = now + policy.maxTtlSec * 1000;
  return { expiresAt: Math.floor(Math.min(claimed, cap)), source, capped: claimed > cap };
}

type Candidate = [expiresAt: number, source: ExpirySource];

function expired(what: string): UpstreamFailure {
  return new UpstreamFailure("invalid", `credential already expired (${what})`);
}

function fromExpiresIn(value: unknown, now: number): Candidate | undefined {
  const seconds = numeric(value);
  if (seconds === undefined) return undefined;
  if (seconds <= 0) throw expired("expires_in <= 0");
  return [now + seconds * 1000, "expires_in"];
}

/**
 * Above this an "epoch seconds" value can only be epoch milliseconds (1e11 s is the year 5138):
 * reading it as seconds would make a one-hour token look immortal.
 */
const MS_THRESHOLD = 1e11;
/** 2001-09-09 in epoch seconds: no partner issues credentials expiring before that. */
const MIN_EPOCH_SEC = 1e9;

function fromExpiresOn(value: unknown, now: number): Candidate | undefined {
  let at: number | undefined;
  const n = numeric(value);
  // Below MIN_EPOCH_SEC a number is no timestamp at all ("1.5", -1): unreadable, not "expired".
  if (n !== undefined) at = n < MIN_EPOCH_SEC ? undefined : n >= MS_THRESHOLD ? n : n * 1000;
  // Only ISO-looking strings: Date.parse also accepts oddities such as "1.5" (a date in 2001).
  else if (typeof value === "string" && /^\s*\d{4}-\d{2}-\d{2}([T ]|\s*$)/.test(value)) at = Date.parse(value.trim());
  if (at === undefined || !Number.isFinite(at)) return undefined;
  if (at <= now) throw expired("expires_on in the past");
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
  if (at <= now) throw expired("JWT exp in the past");
  return [at, "jwt_exp"];
}

function numeric(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}
