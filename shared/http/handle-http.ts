import { toBrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import { problemResult, type HttpResult } from "./http-result.js";

/**
 * Runs a route and turns any failure into problem+json. A 500 is always a bug, so unexpected
 * errors are logged (class and code only) with the route name for the operator to find.
 */
export async function handleHttp(logger: Logger, route: string, run: () => Promise<HttpResult>): Promise<HttpResult> {
  try {
    return await run();
  } catch (error) {
    const e = toBrokerError(error);
    if (e.code === "internal") logger.log("error", "unhandled_error", { route, ...errorFields(e.cause) });
    return problemResult(e);
  }
}
