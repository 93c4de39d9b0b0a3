import { app, type HttpRequest } from "@azure/functions";
import { handleHttp } from "../shared/http/handle-http.js";
import { jsonResult, type HttpResult } from "../shared/http/http-result.js";
import { broker } from "./runtime.js";

/** POST /api/admin/providers/{provider}/refresh: fetch a new credential now (operator role). */
export async function adminRefresh(request: HttpRequest): Promise<HttpResult> {
  return handleHttp(broker.logger, "admin-refresh", async () =>
    jsonResult(200, await broker.admin.refresh(request.headers.get("authorization"), request.params.provider ?? "")),
  );
}

app.http("admin-refresh", {
  route: "admin/providers/{provider}/refresh",
  methods: ["POST"],
  authLevel: "anonymous",
  handler: adminRefresh,
});
