import type { TokenCredential } from "@azure/core-auth";
import { TokenBrokerError } from "./errors.js";

/**
 * How the client proves who it is to the broker: a `TokenCredential` (in Azure, the service's
 * managed identity through `DefaultAzureCredential`) with the broker's audience scope, or a
 * function returning a caller JWT (tests, other issuers).
 */
export type CallerAuth = { credential: TokenCredential; scope: string } | (() => string | Promise<string>);

export async function callerAuthorization(caller: CallerAuth, signal?: AbortSignal): Promise<string> {
  let token: string | undefined;
  try {
    if (typeof caller === "function") token = await caller();
    else token = (await caller.credential.getToken(caller.scope, signal ? { abortSignal: signal } : {}))?.token;
  } catch (error) {
    throw new TokenBrokerError("caller_unauthenticated", "Could not obtain a caller token for the broker.", { cause: error });
  }
  if (typeof token !== "string" || token.length === 0) {
    throw new TokenBrokerError("caller_unauthenticated", "The caller credential returned no token.");
  }
  return `Bearer ${token}`;
}
