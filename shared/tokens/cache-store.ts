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

export interface FleetFlightOptions {
  /**
   * Asked once the fetch succeeded, just before its result is written for the fleet: false (an
   * invalidation came in while it ran) keeps an outdated credential out of the shared store.
   */
  shouldStore?: () => boolean;
}

/**
 * Fleet-wide single-flight: runs `fetch` on exactly one instance for a key while the others wait
 * for its result (through the shared store) instead of calling the partner. The coordinator is
 * the only writer of a flight's result (fenced by its lease), so callers must not put it
 * themselves. Without Redis the token cache's own in-process single-flight is all there is.
 */
export interface FleetCoordinator {
  singleFlight(key: string, fetch: () => Promise<IssuedCredential>, options?: FleetFlightOptions): Promise<IssuedCredential>;
}

/** Tells every instance to drop cached credentials of a provider (refresh, rotation, operator). */
export interface InvalidationBus {
  publish(provider: string): Promise<void>;
  subscribe(listener: (provider: string) => void): void;
}
