import { app } from "@azure/functions";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";

/**
 * The benchmark's baseline: a function that does nothing but answer a small JSON body, served by
 * the same local host and returning the same HttpResult shape as the broker's functions, so the
 * difference between the two runs is the broker's own per-request work.
 */
export async function trivial(): Promise<HttpResult> {
  return jsonResult(200, { status: "ok", served_by: "trivial" });
}

app.http("trivial", { route: "trivial", methods: ["GET"], authLevel: "anonymous", handler: trivial });
