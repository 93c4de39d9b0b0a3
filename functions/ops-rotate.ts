import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";
import { parsed, parseFlag } from "../shared/http/request-params.js";
import { broker, ready } from "./runtime.js";

/** POST /api/ops/providers/{provider}/rotate[?dry_run=true]: rotate the partner key now (operator role). */
export async function opsRotate(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "ops-rotate", async () => {
    const result = await broker.admin.rotate(
      request.headers.get("authorization"),
      request.params.provider ?? "",
      parsed(() => parseFlag(request.query.get("dry_run"), "dry_run")),
    );
    return jsonResult(200, result);
  });
}

app.http("ops-rotate", {
  route: "ops/providers/{provider}/rotate",
  methods: ["POST"],
  authLevel: "anonymous",
  handler: opsRotate,
});

// Registered first, then wait for the broker (README, "How function files register").
await ready;
