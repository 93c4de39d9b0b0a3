import type { IssuedCredential } from "../providers/credential.js";

/**
 * Second-level cache behind the token cache (Redis in a fleet). Implementations must never throw
 * into the request path: a failing shared cache degrades to a miss.
 */
export interface SharedCredentialStore {
  get(key: string): Promise<IssuedCredential | undefined>;
  put(key: string, credential: IssuedCredential): Promise<void>;
  delete(key: string): Promise<void>;
  /** Drops every entry of a provider, including keys this instance never saw. */
  deleteProvider?(provider: string): Promise<unknown>;
}

/**
 * Fleet-wide single-flight: runs `fetch` on exactly one instance for a key while the others wait
 * for its result (through the shared store) instead of calling the partner. Without Redis the
 * token cache's own in-process single-flight is all there is.
 */
export interface FleetCoordinator {
  singleFlight(key: string, fetch: () => Promise<IssuedCredential>): Promise<IssuedCredential>;
}

/** Tells every instance to drop cached credentials of a provider (refresh, rotation, operator). */
export interface InvalidationBus {
  publish(provider: string): Promise<void>;
  subscribe(listener: (provider: string) => void): void;
}
