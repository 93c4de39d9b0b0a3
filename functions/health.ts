import { app } from "@azure/functions";
import { BrokerError } from "../shared/errors/broker-error.js";
import { jsonResult, problemResult, type HttpResult } from "../shared/http/http-result.js";
import { composed, ready } from "./runtime.js";

/**
 * GET /api/health: anonymous liveness. Deliberately says nothing about providers or dependencies.
 * Never "ok" for a broker that did not compose. Through a host that blocks on entry-file errors
 * (Node 20+ workers, and the local host) this handler is never called then; a worker that does
 * not block (FUNCTIONS_NODE_BLOCK_ON_ENTRY_POINT_ERROR=false, Node < 20) serves what registered.
 */
export function health(): HttpResult {
  if (!composed()) return NOT_STARTED;
  return OK;
}

const OK = jsonResult(200, { status: "ok" });
// No configuration detail: the start-up log names the bad fields, an anonymous caller learns nothing.
const NOT_STARTED = problemResult(new BrokerError("broker_unavailable", "The broker did not start; see the host log."));

app.http("health", { route: "health", methods: ["GET"], authLevel: "anonymous", handler: health });

// Registered first, then wait for the broker (README, "How function files register").
await ready;
