import { z } from "zod";

/**
 * How issued credentials are audited. Every issuance is accounted for in both modes; they differ
 * in how many log lines that takes (see README, "Logs and audit").
 */
export const AuditSchema = z
  .object({
    mode: z
      .enum(["summary", "per-hit"])
      .default("summary")
      .describe(
        '"summary": the first issuance of each credential to each caller is logged at once (token_issued), later ones are ' +
          'counted and logged as one token_issued_summary per caller, credential and cache outcome per interval. "per-hit": one ' +
          "token_issued line for every credential served.",
      ),
    summaryIntervalSec: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(60)
      .describe("Summary mode: longest time an issuance waits before its summary line is written."),
    maxTrackedPairs: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(10_000)
      .describe("Summary mode: pending (caller, credential, outcome) counters kept at most; reaching it writes every pending summary at once."),
  })
  .strict()
  .default({ mode: "summary", summaryIntervalSec: 60, maxTrackedPairs: 10_000 });
export type AuditConfig = z.infer<typeof AuditSchema>;

/** The operator status route and the fleet heartbeats behind it. */
export const StatusSchema = z
  .object({
    heartbeatSec: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(30)
      .describe("With REDIS_URL: how often each instance publishes its heartbeat (provider state, no secret) for the fleet status."),
    staleAfterSec: z
      .number()
      .int()
      .min(2)
      .max(86_400)
      .default(90)
      .describe(
        "An instance whose last heartbeat is older than this is listed as stale and left out of the fleet-wide provider state; " +
          "its heartbeat expires from Redis 10 times this long after its last publish.",
      ),
    summaryAbove: z
      .number()
      .int()
      .min(0)
      .default(200)
      .describe(
        "With more providers than this, GET /api/ops/status answers counts per state only, unless ?view=full, ?provider= or ?state= is given.",
      ),
  })
  .strict()
  .default({ heartbeatSec: 30, staleAfterSec: 90, summaryAbove: 200 })
  .refine((s) => s.staleAfterSec > s.heartbeatSec, {
    message: "staleAfterSec must be longer than heartbeatSec (an instance would be stale between two heartbeats)",
    path: ["staleAfterSec"],
  });
export type StatusConfig = z.infer<typeof StatusSchema>;
