import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonTextResult, type HttpResult } from "../shared/http/http-result.js";
import { broker, ready } from "./runtime.js";

/**
 * GET /api/token/{provider}: a ready-to-use partner credential for an authenticated caller.
 * Not async: a cache hit is answered synchronously (the Functions host awaits values and promises alike).
 */
export function token(request: HttpRequest): HttpResult | Promise<HttpResult> {
  return handleHttp(broker.logger, "token", () => {
    const body = broker.tokens.issue({
      authorization: request.headers.get("authorization"),
      provider: request.params.provider ?? "",
      minTtl: request.query.get("min_ttl"),
    });
    return typeof body === "string" ? ok(body) : body.then(ok);
  });
}

const ok = (body: string): HttpResult => jsonTextResult(200, body);

app.http("token", { route: "token/{provider}", methods: ["GET"], authLevel: "anonymous", handler: token });

// Registered first, then wait for the broker (README, "How function files register").
await ready;
