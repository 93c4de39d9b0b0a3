import { app } from "@azure/functions";
import { z } from "zod";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";
import { MATCHED_BODY_BYTES_ENV, MATCHED_CONTENT_TYPE_ENV, paddedJsonBody } from "./matched-body.js";

/**
 * The benchmark's matched baseline (a'): the trivial function, but answering a body of the same
 * byte length and content-type as the broker's token response, so the comparison with (b) is not
 * skewed by (b) moving ~35x more bytes. The bench passes the size it measured on a real (b)
 * response through the environment of the trivial host process.
 */
const MatchedEnvSchema = z.object({
  [MATCHED_BODY_BYTES_ENV]: z.coerce.number().int().min(1).max(1024 * 1024),
  [MATCHED_CONTENT_TYPE_ENV]: z.string().min(1).max(200),
});

/** Built once, before any request: per request the handler only returns this object. */
function buildMatchedResult(env: z.infer<typeof MatchedEnvSchema>): HttpResult {
  const base = jsonResult(200, {});
  return Object.freeze({
    status: 200,
    headers: Object.freeze({ ...base.headers, "content-type": env[MATCHED_CONTENT_TYPE_ENV] }),
    body: paddedJsonBody(env[MATCHED_BODY_BYTES_ENV]),
  }) as HttpResult;
}

const parsed = MatchedEnvSchema.safeParse(process.env);
// Without the settings (e.g. the host started for the cold-burst reference) the route is simply
// absent: a bench that forgot them fails on its first request with a 404 instead of measuring
// a body of the wrong size.
if (parsed.success) {
  const matched = buildMatchedResult(parsed.data);
  app.http("trivial-matched", {
    route: "trivial/matched",
    methods: ["GET"],
    authLevel: "anonymous",
    handler: async () => matched,
  });
}
