import { toBrokerError } from "../errors/broker-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import { problemResult, type HttpResult } from "./http-result.js";

/**
 * Runs a route and turns any failure into problem+json. A 500 is always a bug, so unexpected
 * errors are logged (class and code only) with the route name for the operator to find. A route
 * that answers synchronously (a token cache hit) is answered synchronously: no promise is created.
 */
export function handleHttp(logger: Logger, route: string, run: () => HttpResult | Promise<HttpResult>): HttpResult | Promise<HttpResult> {
  try {
    const result = run();
    return result instanceof Promise ? result.catch((error: unknown) => failure(logger, route, error)) : result;
  } catch (error) {
    return failure(logger, route, error);
  }
}

function failure(logger: Logger, route: string, error: unknown): HttpResult {
  const e = toBrokerError(error);
  if (e.code === "internal") logger.log("error", "unhandled_error", { route, ...errorFields(e.cause) });
  return problemResult(e);
}
