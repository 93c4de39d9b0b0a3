import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";
import { MAX_REJECTION_BODY_BYTES, parsed, parseRejectionBody } from "../shared/http/request-params.js";
import { broker, ready } from "./runtime.js";

/**
 * POST /api/token/{provider}/rejected with `{"fingerprint":"sha256:…"}`: the partner refused a
 * credential the broker served; replace it once, fleet-wide (or answer `already_replaced`).
 */
export async function tokenRejected(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "token-rejected", async () => {
    const declared = Number(request.headers.get("content-length") ?? "0");
    // A declared oversize body is refused unread; parseRejectionBody bounds the rest.
    const body = declared > MAX_REJECTION_BODY_BYTES ? undefined : await request.text();
    const result = await broker.rejections.report({
      authorization: request.headers.get("authorization"),
      provider: request.params.provider ?? "",
      fingerprint: parsed(() => parseRejectionBody(body).fingerprint),
    });
    return jsonResult(200, result);
  });
}

app.http("token-rejected", { route: "token/{provider}/rejected", methods: ["POST"], authLevel: "anonymous", handler: tokenRejected });

// Registered first, then wait for the broker (README, "How function files register").
await ready;
