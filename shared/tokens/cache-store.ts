import type { IssuedCredential } from "../providers/credential.js";

/**
 * Second-level cache behind the token cache (Redis in a fleet). Implementations must never throw
 * into the request path: a failing shared cache degrades to a miss.
 */
export interface SharedCredentialStore {
  get(key: string): Promise<IssuedCredential | undefined>;
  put(key: string, credential: IssuedCredential): Promise<void>;
  delete(key: string): Promise<void>;
}
