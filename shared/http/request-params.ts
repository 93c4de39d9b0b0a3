import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";

/**
 * A request parameter as a function file parsed it: its value, or the 400 it deserves. Services
 * raise the error only once the caller is authenticated, so a request without a valid caller
 * token learns nothing about parameter rules (the contract's order: 401, then 400).
 */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: BrokerError };

/** Runs a parser; a BrokerError it raises becomes the parameter's error, anything else propagates. */
export function parsed<T>(parse: () => T): Parsed<T> {
  try {
    return { ok: true, value: parse() };
  } catch (error) {
    if (error instanceof BrokerError) return { ok: false, error };
    throw error;
  }
}

/** The parsed value, or its 400. */
export function parsedValue<T>(parameter: Parsed<T>): T {
  if (parameter.ok) return parameter.value;
  throw parameter.error;
}

/** Longest min_ttl a caller may ask for; nothing the broker serves lives longer than a day. */
const MAX_MIN_TTL_SEC = 86_400;

const MinTtlSchema = z
  .string()
  .regex(/^\d{1,6}$/, "must be a whole number of seconds")
  .transform(Number)
  .pipe(z.number().max(MAX_MIN_TTL_SEC, `must be at most ${MAX_MIN_TTL_SEC}`));

/** `min_ttl` query parameter: absent -> the configured default; anything malformed -> 400. */
export function parseMinTtl(raw: string | null | undefined, fallbackSec: number): number {
  if (raw === null || raw === undefined) return fallbackSec;
  const parsed = MinTtlSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BrokerError("bad_request", `Query parameter min_ttl ${parsed.error.issues[0]?.message ?? "is invalid"}.`);
  }
  return parsed.data;
}

const BooleanFlagSchema = z.enum(["true", "false", "1", "0"]);

/** Boolean query flags such as `dry_run`: only true/false/1/0 are accepted. */
export function parseFlag(raw: string | null | undefined, name: string): boolean {
  if (raw === null || raw === undefined) return false;
  const parsed = BooleanFlagSchema.safeParse(raw);
  if (!parsed.success) throw new BrokerError("bad_request", `Query parameter ${name} must be true or false.`);
  return parsed.data === "true" || parsed.data === "1";
}

/** Longest body of a rejected-credential report: `{"fingerprint":"sha256:<12 hex>"}` is ~40 bytes. */
export const MAX_REJECTION_BODY_BYTES = 1024;

const RejectionSchema = z.object({ fingerprint: z.string().regex(/^sha256:[0-9a-f]{12}$/, "must be sha256:<12 hex digits>") }).strict();

/** Body of `POST /api/token/{provider}/rejected`; anything else is a 400. */
export function parseRejectionBody(text: string | undefined): { fingerprint: string } {
  if (text === undefined || text.length > MAX_REJECTION_BODY_BYTES) {
    throw new BrokerError("bad_request", `The body must be JSON {"fingerprint":"sha256:…"} of at most ${MAX_REJECTION_BODY_BYTES} bytes.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BrokerError("bad_request", 'The body must be JSON {"fingerprint":"sha256:…"}.');
  }
  const parsed = RejectionSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BrokerError("bad_request", `Body field ${issue?.path.join(".") || "(root)"} ${issue?.message ?? "is invalid"}.`);
  }
  return parsed.data;
}
