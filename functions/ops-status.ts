import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";
import { broker, ready } from "./runtime.js";

/** GET /api/ops/status: per-provider token, circuit and rotation state (operator role). */
export async function opsStatus(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "ops-status", async () =>
    jsonResult(200, await broker.admin.status(request.headers.get("authorization"))),
  );
}

app.http("ops-status", { route: "ops/status", methods: ["GET"], authLevel: "anonymous", handler: opsStatus });

// Registered first, then wait for the broker (README, "How function files register").
await ready;
