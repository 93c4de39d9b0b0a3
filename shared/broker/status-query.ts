import { z } from "zod";
import { BrokerError } from "../errors/broker-error.js";

/**
 * States a provider can be filtered and counted by. The token states (`valid`, `expired`, `cold`)
 * partition the providers; the others are flags a provider has in addition.
 */
export const STATUS_STATES = ["valid", "expired", "cold", "circuit_open", "needs_attention", "failing"] as const;
export type StatusState = (typeof STATUS_STATES)[number];

export const STATUS_VIEWS = ["summary", "full"] as const;
export type StatusView = (typeof STATUS_VIEWS)[number];

/** Query parameters of GET /api/ops/status as received (null when absent). */
export interface RawStatusQuery {
  provider?: string | null;
  state?: string | null;
  view?: string | null;
}

export interface StatusQuery {
  /** Only these providers (their configured names). */
  providers?: string[];
  /** Only providers in at least one of these states. */
  states?: StatusState[];
  view?: StatusView;
}

const MAX_PROVIDERS_PER_QUERY = 100;

/** Comma-separated list; repeated or empty items are refused rather than guessed at. */
const list = <T extends z.ZodType<unknown, string>>(item: T, max: number) =>
  z
    .string()
    .max(max * 64)
    .transform((raw) => raw.split(","))
    .pipe(z.array(item).min(1).max(max))
    .refine((items) => new Set(items).size === items.length);

const ProviderList = list(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), MAX_PROVIDERS_PER_QUERY);
const StateList = list(z.enum(STATUS_STATES), STATUS_STATES.length);
const View = z.enum(STATUS_VIEWS);

/**
 * Validates the status filters. A bad value is a 400 whose detail names the parameter and what
 * it accepts, never the value received.
 */
export function parseStatusQuery(raw: RawStatusQuery): StatusQuery {
  const query: StatusQuery = {};
  if (raw.provider !== null && raw.provider !== undefined) {
    const parsed = ProviderList.safeParse(raw.provider);
    if (!parsed.success) {
      throw new BrokerError(
        "bad_request",
        `Query parameter provider must be a comma-separated list of up to ${MAX_PROVIDERS_PER_QUERY} distinct provider names (lower-case letters, digits, dashes).`,
      );
    }
    query.providers = parsed.data;
  }
  if (raw.state !== null && raw.state !== undefined) {
    const parsed = StateList.safeParse(raw.state);
    if (!parsed.success) {
      throw new BrokerError("bad_request", `Query parameter state must be a comma-separated list of: ${STATUS_STATES.join(", ")}.`);
    }
    query.states = parsed.data;
  }
  if (raw.view !== null && raw.view !== undefined) {
    const parsed = View.safeParse(raw.view);
    if (!parsed.success) throw new BrokerError("bad_request", `Query parameter view must be one of: ${STATUS_VIEWS.join(", ")}.`);
    query.view = parsed.data;
  }
  return query;
}
