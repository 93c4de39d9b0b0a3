import { z } from "zod";
import { HttpUrl } from "./url.js";

/**
 * Rotation settings of an api-key provider. Kept apart from api-key-schema.ts (which embeds it) because
 * the partner key API adapter is a small language of its own. No secret appears here: the key API is
 * always authenticated with the provider's own key secret.
 */

const Path = z.string().regex(/^\/[^\s]*$/, "must start with / and contain no spaces");
const Status = z.number().int().min(100).max(599);
const QueryParam = z.string().regex(/^[A-Za-z0-9_.-]+$/, "must be a query parameter name");

/** Longest a run may wait for a new key to start working (verify.attempts x verify.delayMs). */
export const MAX_VERIFY_WAIT_MS = 5 * 60_000;

/**
 * Continuation-token paging: a page carrying a token is followed by a request sending it back; a
 * page without one is the last. The adapter bounds the number of pages and fails on a repeated
 * token, so a partner that misbehaves yields an error, never a truncated list taken as complete.
 */
const PaginationSchema = z
  .object({
    tokenField: z.string().min(1).describe("Dotted path of the continuation token in a page; absent or null on the last page."),
    tokenParam: QueryParam.describe("Query parameter that sends the token back for the next page."),
    limitParam: QueryParam.optional().describe("Query parameter carrying the page size (with pageSize)."),
    pageSize: z.number().int().min(1).max(1000).optional().describe("Keys asked for per page (with limitParam)."),
  })
  .strict()
  .refine((p) => (p.limitParam === undefined) === (p.pageSize === undefined), "limitParam and pageSize go together");

export const DeclarativeKeyApiSchema = z
  .object({
    baseUrl: HttpUrl.describe("Base URL of the partner API; every path below is appended to it."),
    create: z
      .object({
        method: z.enum(["POST", "PUT"]).default("POST"),
        path: Path,
        body: z.record(z.string(), z.unknown()).optional().describe("Fixed JSON fields sent with every create."),
      })
      .strict(),
    list: z
      .object({
        method: z.enum(["GET", "POST"]).default("GET"),
        path: Path,
        itemsField: z.string().min(1).default("items").describe('Dotted path of the array of keys in the response, e.g. "data.items".'),
        pagination: PaginationSchema.optional().describe("How the partner pages its key list; absent: one answer lists every key."),
      })
      .strict(),
    delete: z
      .object({
        method: z.enum(["DELETE", "POST"]).default("DELETE"),
        path: Path.refine((p) => p.includes("{id}"), "must contain {id}").describe(
          'Path of the call that deletes a key, e.g. "/api-keys/{id}": every "{id}" is replaced by the id of the key to delete (URL-encoded). Required.',
        ),
      })
      .strict(),
    verify: z
      .object({
        method: z.enum(["GET", "HEAD", "POST"]).default("GET"),
        path: Path.describe("A cheap call that only a valid key may make; sent with the NEW key."),
        expectStatus: z.array(Status).min(1).default([200]),
      })
      .strict(),
    fields: z
      .object({
        id: z.string().min(1).describe("Field holding the key id (the Basic user name)."),
        secret: z.string().min(1).describe("Field of the create response holding the secret (returned once)."),
        name: z.string().min(1).describe("Field holding the key's name: the broker marks its own keys there."),
        createdAt: z.string().min(1).optional(),
      })
      .strict(),
    copyFromCurrent: z
      .array(z.string().min(1))
      .default([])
      .describe("Fields copied from the current key to the new one (e.g. permissions, ipRestrictions)."),
    maxKeys: z.number().int().min(2).describe("The partner's limit on keys per account."),
  })
  .strict();
export type KeyApiSpec = z.infer<typeof DeclarativeKeyApiSchema>;

export const SilverflowKeyApiSchema = z
  .object({
    preset: z.literal("silverflow"),
    baseUrl: HttpUrl.describe('Silverflow API base, e.g. "https://api.silverflow.co/v1" (the sandbox: "<url>/silverflow").'),
    verifyPath: Path.default("/charges").describe("Called with the new key to prove it works (needs charges:List)."),
    maxKeys: z.number().int().min(2).default(40),
    pageSize: z.number().int().min(1).max(100).default(100).describe("Keys per list page (Silverflow allows 1-100; its default page is 10)."),
  })
  .strict();

export const KeyApiSchema = z.union([SilverflowKeyApiSchema, DeclarativeKeyApiSchema]);
export type KeyApiConfig = z.infer<typeof KeyApiSchema>;

export const RotationSchema = z
  .object({
    mode: z
      .enum(["partner-api", "operator"])
      .describe('"partner-api": the broker creates keys through the partner key API; "operator": a person writes new secret versions.'),
    intervalHours: z.number().positive().default(720).describe("A rotation is due this long after the current key was created."),
    graceMinutes: z
      .number()
      .min(0)
      .default(120)
      .describe(
        "The previous key is deleted at the partner this long after the new one was promoted. Must cover the longest time the old key may still be used: min(cache.defaultTtlSec, cache.maxTtlSec) + max(secrets.cacheTtlSec, secrets.maxStaleSec) seconds (120 min with the defaults); a shorter value is refused at start-up.",
      ),
    maxAgeDays: z.number().positive().optional().describe('Status reports the key as "stale" beyond this age (operator mode).'),
    maxFailures: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe("Consecutive failed attempts before automatic rotation stops (needs_attention) until an operator rotates."),
    verify: z
      .object({
        attempts: z.number().int().min(1).max(50).default(5),
        delayMs: z.number().int().min(0).max(120_000).default(2000),
      })
      .strict()
      .default({ attempts: 5, delayMs: 2000 })
      .describe(
        `How long a new key may take to start working at the partner (propagation); attempts x delayMs at most ${MAX_VERIFY_WAIT_MS / 60_000} min, well inside the rotation lock's lease.`,
      ),
    keyNamePrefix: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/, "1-40 letters, digits, '.', '_' or '-' (no ':')")
      .default("token-broker")
      .describe(
        'Identifies this deployment in the names of the partner keys it creates ("<prefix>:<provider>:<rotation id>"); rotation deletes only keys named "<prefix>:<provider>:..." that it does not hold. Deployments sharing one partner account (e.g. staging and production) MUST set distinct prefixes, or each sweeps the other\'s keys as orphans.',
      ),
    keyApi: KeyApiSchema.optional().describe('The partner key API (mode "partner-api" only).'),
  })
  .strict()
  .superRefine((rotation, ctx) => {
    if (rotation.mode === "partner-api" && rotation.keyApi === undefined) {
      ctx.addIssue({ code: "custom", path: ["keyApi"], message: 'required when mode is "partner-api"' });
    }
    if (rotation.verify.attempts * rotation.verify.delayMs > MAX_VERIFY_WAIT_MS) {
      // The lease is not renewed: a verify that outlasts it would leave a successor to resume the
      // same journal while this run still acts on it.
      ctx.addIssue({ code: "custom", path: ["verify"], message: `attempts x delayMs must not exceed ${MAX_VERIFY_WAIT_MS} ms` });
    }
    if (rotation.mode === "operator" && rotation.keyApi !== undefined) {
      ctx.addIssue({ code: "custom", path: ["keyApi"], message: 'only allowed when mode is "partner-api"' });
    }
  });
export type RotationConfig = z.infer<typeof RotationSchema>;

/** The preset is shorthand for the declarative adapter, so one code path talks to every partner. */
export function expandKeyApi(keyApi: KeyApiConfig): KeyApiSpec {
  if (!("preset" in keyApi)) return keyApi;
  return {
    baseUrl: keyApi.baseUrl,
    create: { method: "POST", path: "/api-keys", body: { description: "Created by token-broker key rotation." } },
    list: {
      method: "GET",
      path: "/api-keys",
      itemsField: "items",
      pagination: { tokenField: "offsetToken", tokenParam: "offsetToken", limitParam: "limit", pageSize: keyApi.pageSize },
    },
    delete: { method: "DELETE", path: "/api-keys/{id}" },
    verify: { method: "GET", path: keyApi.verifyPath, expectStatus: [200] },
    fields: { id: "key", secret: "secret", name: "name", createdAt: "createdAt" },
    copyFromCurrent: ["permissions", "ipRestrictions"],
    maxKeys: keyApi.maxKeys,
  };
}
