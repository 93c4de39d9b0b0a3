import type { ProviderConfig } from "../config/schema.js";
import { journalSecretName } from "./journal.js";

export interface PromotionCaches {
  /** The cached secret store: the key secret and its journal are read again. */
  secrets: { invalidate(name: string): void };
  /** The token cache: every instance drops the tokens minted with the old key. */
  cache: { invalidate(provider: string, options: { broadcast: boolean }): Promise<void> };
}

/**
 * The providers whose cached credentials were made with `provider`'s key: the provider itself and
 * every http-token provider that authenticates to its token endpoint with it (`authProvider`).
 */
export function credentialsMadeWith(providers: Record<string, ProviderConfig>, provider: string): string[] {
  return Object.entries(providers)
    .filter(([name, p]) => name === provider || (p.kind === "http-token" && p.authProvider === provider))
    .map(([name]) => name);
}

/**
 * What a promoted key makes stale, as rotation's `onPromoted`: the cached key secret and journal of
 * an api-key provider, then the credentials made with the old key, fleet-wide.
 */
export function forgetReplacedKey(providers: Record<string, ProviderConfig>, caches: PromotionCaches): (provider: string) => Promise<void> {
  return async (provider) => {
    const promoted = Object.hasOwn(providers, provider) ? providers[provider] : undefined;
    if (promoted?.kind === "api-key") {
      caches.secrets.invalidate(promoted.key.secret);
      caches.secrets.invalidate(journalSecretName(promoted.key.secret));
    }
    for (const name of credentialsMadeWith(providers, provider)) await caches.cache.invalidate(name, { broadcast: true });
  };
}
