import { app } from "@azure/functions";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";

/** GET /api/health: anonymous liveness. Deliberately says nothing about providers or dependencies. */
export async function health(): Promise<HttpResult> {
  return jsonResult(200, { status: "ok" });
}

app.http("health", { route: "health", methods: ["GET"], authLevel: "anonymous", handler: health });
