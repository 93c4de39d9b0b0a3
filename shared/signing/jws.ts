import type { JWK } from "jose";

export type AssertionAlgorithm = "RS256" | "PS256" | "ES256";

/** A public key as published at /api/jwks. */
export type PublicJwk = JWK & { kid: string; alg: AssertionAlgorithm; use: "sig" };

/** The first two parts of a compact JWS: what is signed. */
export function signingInput(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
}

export function base64url(value: string | Uint8Array): string {
  return Buffer.from(value).toString("base64url");
}
