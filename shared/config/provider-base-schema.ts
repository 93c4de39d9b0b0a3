import { z } from "zod";
import { HEADER_NAME } from "./names.js";
import { ValueOrSecretSchema } from "./secret-ref-schema.js";
import { HttpUrl } from "./url.js";

/**
 * The settings every provider has whatever its kind: extra headers, the cache and upstream
 * policies, the credential probe, prewarming and the pace of rejected-credential refetches. Each
 * provider schema spreads `providerBase` into its own fields.
 */

export const HeadersSchema = z
  .record(z.string().regex(HEADER_NAME, "must be an HTTP header name"), ValueOrSecretSchema)
  .default({})
  .describe("Extra headers the caller must send to the partner: literal values or secret references.");

export const CachePolicySchema = z
  .object({
    refreshAheadFraction: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.75)
      .describe("Refresh in the background once this fraction of the token lifetime has passed."),
    refreshFloorSec: z
      .number()
      .int()
      .min(0)
      .default(120)
      .describe("Refresh at least this many seconds before expiry, whatever the fraction says."),
    jitterSec: z
      .number()
      .int()
      .min(0)
      .default(30)
      .describe("Random spread subtracted from the refresh time so a fleet does not refresh in lockstep."),
    defaultTtlSec: z
      .number()
      .int()
      .positive()
      .default(3600)
      .describe("Lifetime assumed when the partner gives none (and reported for static API keys)."),
    maxTtlSec: z
      .number()
      .int()
      .positive()
      .default(86400)
      .describe("Upper bound on any lifetime the partner claims."),
  })
  .strict()
  .default({ refreshAheadFraction: 0.75, refreshFloorSec: 120, jitterSec: 30, defaultTtlSec: 3600, maxTtlSec: 86400 });
export type CachePolicy = z.infer<typeof CachePolicySchema>;

export const UpstreamPolicySchema = z
  .object({
    timeoutMs: z.number().int().min(100).max(120_000).default(5000).describe("Per-attempt timeout (cut short by deadlineMs)."),
    deadlineMs: z
      .number()
      .int()
      .min(100)
      .max(120_000)
      .default(10_000)
      .describe(
        "Overall deadline of one fetch, every attempt and retry delay included: a caller waiting on a partner is answered within it. Keep it well under your callers' own timeouts.",
      ),
    maxAttempts: z.number().int().min(1).max(10).default(3).describe("Attempts per fetch, first included."),
    baseDelayMs: z.number().int().min(0).default(200).describe("First retry delay; doubles each attempt, full jitter."),
    maxDelayMs: z.number().int().min(0).default(3000).describe("Cap on one retry delay."),
    maxRetryAfterSec: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe("A partner Retry-After longer than this fails fast (503 with that Retry-After) instead of waiting."),
    maxThrottleSec: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(300)
      .describe(
        "Longest a partner's Retry-After (seconds or HTTP-date) keeps the broker from calling it again; longer values are cut to this. Also the largest Retry-After the broker sends for this provider. An operator refresh ignores the wait.",
      ),
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(10 * 1024 * 1024)
      .default(65_536)
      .describe("Largest partner answer read (token, key API, probe), in bytes; a longer one is abandoned unread (upstream_rejected)."),
    maxTokenBytes: z
      .number()
      .int()
      .min(64)
      .max(1024 * 1024)
      .default(16_384)
      .describe("Longest access token served, in bytes; a longer one is refused (upstream_rejected)."),
    breakerFailures: z.number().int().min(1).default(5).describe("Consecutive failed fetches that open the circuit."),
    breakerOpenSec: z.number().int().min(1).default(30).describe("How long an open circuit fails fast before one trial."),
  })
  .strict()
  .default({
    timeoutMs: 5000,
    deadlineMs: 10_000,
    maxAttempts: 3,
    baseDelayMs: 200,
    maxDelayMs: 3000,
    maxRetryAfterSec: 10,
    maxThrottleSec: 300,
    maxResponseBytes: 65_536,
    maxTokenBytes: 16_384,
    breakerFailures: 5,
    breakerOpenSec: 30,
  });
export type UpstreamPolicy = z.infer<typeof UpstreamPolicySchema>;

export const ProbeSchema = z
  .object({
    url: HttpUrl,
    method: z.enum(["GET", "HEAD", "POST"]).default("GET"),
    expectStatus: z.array(z.number().int().min(100).max(599)).min(1).default([200]),
  })
  .strict()
  .describe("A partner URL that answers 2xx only to valid credentials (e.g. Kalibrate /api/status).");

export const providerBase = {
  description: z.string().optional(),
  headers: HeadersSchema,
  cache: CachePolicySchema,
  upstream: UpstreamPolicySchema,
  probe: ProbeSchema.optional(),
  prewarm: z.boolean().default(false).describe("Fetch ahead of demand from the maintenance timer."),
  rejectedMinIntervalSec: z
    .number()
    .int()
    .min(0)
    .default(30)
    .describe("Least time between two partner fetches forced by rejected-credential reports (POST /api/token/{provider}/rejected), fleet-wide."),
};
