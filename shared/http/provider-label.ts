/**
 * How a provider name taken from a request URL may appear in a problem detail or a log line, on
 * every route: a configured provider's name as it is (configured names are short, lower-case
 * letters, digits and dashes), anything else never (it is attacker-controlled text: markup,
 * CR/LF, kilobytes).
 */
export function providerLabel(name: string, providers: Readonly<Record<string, unknown>>): string {
  return Object.hasOwn(providers, name) ? name : UNKNOWN_PROVIDER;
}

export const UNKNOWN_PROVIDER = "(not a configured provider)";

/** The 404 for a provider name that is not configured; the name itself is not repeated. */
export const UNKNOWN_PROVIDER_DETAIL = "No provider by that name is configured.";
