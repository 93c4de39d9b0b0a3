import { createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { CryptoKey } from "jose";
import { publishOnce } from "../../dev/publish-once.js";

/**
 * RSA-2048 keys for tests, generated once per checkout into .local/test-keys (as the dev TLS files
 * are) rather than on every run: each costs ~150 ms of CPU to generate, and the unit tests use more
 * than a dozen. A name stands for one key; a test that needs different keys uses different names.
 * They sign test tokens and certificates only, and are never committed.
 */
const DIR = resolve(".local", "test-keys");

/** The private key as a JWK, with its public members. */
export function rsaTestJwk(name: string): JsonWebKey {
  const file = join(DIR, `${name}.json`);
  if (!existsSync(file)) create(file);
  return JSON.parse(readFileSync(file, "utf8")) as JsonWebKey;
}

export function rsaTestPrivateKey(name: string): KeyObject {
  return createPrivateKey({ key: rsaTestJwk(name), format: "jwk" });
}

/** Extractable RSASSA-PKCS1-v1_5 / SHA-256 keys, as jose's generateKeyPair("RS256", { extractable: true }) makes. */
export async function rsaTestKeyPair(name: string): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  const privateJwk = rsaTestJwk(name);
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  return {
    privateKey: await crypto.subtle.importKey("jwk", privateJwk, algorithm, true, ["sign"]),
    publicKey: await crypto.subtle.importKey("jwk", publicJwk, algorithm, true, ["verify"]),
  };
}

/** Of two test files creating one key at the same moment, one wins and both read it. */
function create(file: string): void {
  mkdirSync(DIR, { recursive: true, mode: 0o700 });
  publishOnce(file, JSON.stringify(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" })));
}
