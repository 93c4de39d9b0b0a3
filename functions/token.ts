import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonTextResult, type HttpResult } from "../shared/http/http-result.js";
import { broker } from "./runtime.js";

/** GET /api/token/{provider}: a ready-to-use partner credential for an authenticated caller. */
export async function token(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "token", async () => {
    const body = await broker.tokens.issue({
      authorization: request.headers.get("authorization"),
      provider: request.params.provider ?? "",
      minTtl: request.query.get("min_ttl"),
    });
    return jsonTextResult(200, body);
  });
}

app.http("token", { route: "token/{provider}", methods: ["GET"], authLevel: "anonymous", handler: token });
