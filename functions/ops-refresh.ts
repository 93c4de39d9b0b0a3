import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";
import { parsed, parseFlag } from "../shared/http/request-params.js";
import { broker, ready } from "./runtime.js";

/**
 * POST /api/ops/providers/{provider}/refresh: fetch a new credential now, serving the current one
 * until it arrives; `?revoke=true` drops the current one first (operator role).
 */
export async function opsRefresh(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "ops-refresh", async () =>
    jsonResult(
      200,
      await broker.admin.refresh(
        request.headers.get("authorization"),
        request.params.provider ?? "",
        parsed(() => parseFlag(request.query.get("revoke"), "revoke")),
      ),
    ),
  );
}

app.http("ops-refresh", {
  route: "ops/providers/{provider}/refresh",
  methods: ["POST"],
  authLevel: "anonymous",
  handler: opsRefresh,
});

// Registered first, then wait for the broker (README, "How function files register").
await ready;
