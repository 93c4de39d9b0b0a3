import { randomBytes, randomInt } from "node:crypto";

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Random letters and digits from the CSPRNG (randomInt is unbiased, unlike a byte modulo 62). */
export function randomAlphanumeric(length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  return out;
}

/** A random secret in the URL-safe base64 alphabet, like the client secrets real portals hand out. */
export function randomSecret(bytes = 30): string {
  return randomBytes(bytes).toString("base64url");
}
