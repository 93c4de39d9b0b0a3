import type { AssertionAlgorithm, PublicJwk } from "./jws.js";

/** The key a signature was made with: `kid` names the key version, so partners pick the right public key. */
export interface SigningKeyRef {
  kid: string;
  alg: AssertionAlgorithm;
}

/**
 * Signs client assertions with one configured key. Implementations keep the private key in the
 * vault (Key Vault keys) or in a secret (PEM); either way callers only ever see signatures.
 */
export interface AssertionSigner {
  /** The key the next signature will be made with (it may change with rotation). */
  current(): Promise<SigningKeyRef>;
  /** Signs the JWS signing input with the key `current()` named; the signature in JWS form. */
  sign(key: SigningKeyRef, input: string): Promise<Uint8Array>;
  /** Every public key a partner may meet: current, next (pre-published) and previous (still in use). */
  publicKeys(): Promise<PublicJwk[]>;
}
