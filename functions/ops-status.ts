import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";
import { parsed } from "../shared/http/request-params.js";
import { parseStatusQuery } from "../shared/broker/status-query.js";
import { broker, ready } from "./runtime.js";

/**
 * GET /api/ops/status[?provider=a,b][&state=needs_attention,...][&view=summary|full]: per-provider
 * token, circuit and rotation state, fleet-wide with Redis (operator role).
 */
export async function opsStatus(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "ops-status", async () =>
    jsonResult(
      200,
      await broker.admin.status(
        request.headers.get("authorization"),
        parsed(() =>
          parseStatusQuery({ provider: request.query.get("provider"), state: request.query.get("state"), view: request.query.get("view") }),
        ),
      ),
    ),
  );
}

app.http("ops-status", { route: "ops/status", methods: ["GET"], authLevel: "anonymous", handler: opsStatus });

// Registered first, then wait for the broker (README, "How function files register").
await ready;
