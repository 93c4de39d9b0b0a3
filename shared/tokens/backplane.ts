import type { IssuedCredential } from "../providers/credential.js";

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
 * themselves. Without one the token cache's own in-process single-flight is all there is.
 */
export interface FleetCoordinator {
  singleFlight(key: string, fetch: () => Promise<IssuedCredential>, options?: FleetFlightOptions): Promise<IssuedCredential>;
}

/**
 * The one port between the token cache and the rest of the fleet (Redis in production, see
 * cache/fleet-cache.ts): a shared credential store, an invalidation broadcast and, optionally, a
 * fleet-wide single-flight. Implementations must never throw into the request path for a read:
 * a failing backplane degrades to a miss (tokens/fleet-level.ts catches and counts the rest).
 */
export interface FleetBackplane extends Partial<FleetCoordinator> {
  get(key: string): Promise<IssuedCredential | undefined>;
  put(key: string, credential: IssuedCredential): Promise<void>;
  /**
   * Drops every stored entry of a provider. `known` are the keys this instance used; a backplane
   * that indexes entries by provider also drops the keys this instance never saw.
   */
  forget(provider: string, known: readonly string[]): Promise<unknown>;
  /** Tells every instance to drop cached credentials of a provider (refresh, rotation, operator). */
  publish(provider: string): Promise<void>;
  subscribe(listener: (provider: string) => void): void;
}
