import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import type { HttpResult } from "../shared/http/http-result.js";
import { parsed, parseMinTtl } from "../shared/http/request-params.js";
import { TokenResponses } from "../shared/http/token-response.js";
import { broker, ready } from "./runtime.js";

/** GET /api/token/{provider}[?min_ttl=seconds]: a ready-to-use partner credential for an authenticated caller. */
export async function token(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "token", async () => {
    const issued = await broker.tokens.issue({
      authorization: request.headers.get("authorization"),
      provider: request.params.provider ?? "",
      minTtlSec: parsed(() => parseMinTtl(request.query.get("min_ttl"), broker.config.defaultMinTtlSec)),
    });
    return responses.result(issued);
  });
}

const responses = new TokenResponses();

app.http("token", { route: "token/{provider}", methods: ["GET"], authLevel: "anonymous", handler: token });

// Registered first, then wait for the broker (README, "How function files register").
await ready;
