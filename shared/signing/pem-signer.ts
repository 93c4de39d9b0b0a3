import { constants, createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import type { SecretStore } from "../secrets/secret-store.js";
import type { AssertionSigner, SigningKeyRef } from "./assertion-signer.js";
import type { AssertionAlgorithm, PublicJwk } from "./jws.js";

interface LoadedKey {
  version: string;
  ref: SigningKeyRef;
  privateKey: KeyObject;
  jwk: PublicJwk;
}

/**
 * Signs with a PEM private key held as a secret (development, and partners that hand out a key
 * file). The key is re-read through the secret store, so a new secret version is a new key; its
 * kid is the RFC 7638 thumbprint of the public key.
 */
export class PemSigner implements AssertionSigner {
  private loaded: LoadedKey | undefined;

  constructor(
    private readonly secretName: string,
    private readonly alg: AssertionAlgorithm,
    private readonly secrets: SecretStore,
  ) {}

  async current(): Promise<SigningKeyRef> {
    return (await this.load()).ref;
  }

  async sign(key: SigningKeyRef, input: string): Promise<Uint8Array> {
    const loaded = await this.load();
    if (loaded.ref.kid !== key.kid) throw new BrokerError("secret_unavailable", `The signing key in "${this.secretName}" changed; retry.`);
    return signWithKey(loaded.privateKey, this.alg, Buffer.from(input));
  }

  async publicKeys(): Promise<PublicJwk[]> {
    return [(await this.load()).jwk];
  }

  private async load(): Promise<LoadedKey> {
    const secret = await this.secrets.get(this.secretName);
    if (this.loaded?.version === secret.version) return this.loaded;
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(secret.value);
    } catch {
      throw new BrokerError("secret_unavailable", `Secret "${this.secretName}" is not an unencrypted PEM private key.`);
    }
    const expected = this.alg === "ES256" ? "ec" : "rsa";
    if (privateKey.asymmetricKeyType !== expected || (this.alg === "ES256" && privateKey.asymmetricKeyDetails?.namedCurve !== "prime256v1")) {
      throw new BrokerError("secret_unavailable", `Secret "${this.secretName}" does not hold a key for ${this.alg}.`);
    }
    const publicJwk = await exportJWK(createPublicKey(privateKey));
    const kid = await calculateJwkThumbprint(publicJwk);
    this.loaded = { version: secret.version, privateKey, ref: { kid, alg: this.alg }, jwk: { ...publicJwk, kid, alg: this.alg, use: "sig" } };
    return this.loaded;
  }
}

/** JWS signatures from a local key: PKCS#1 v1.5, PSS with a digest-length salt, or ECDSA in r||s form. */
function signWithKey(key: KeyObject, alg: AssertionAlgorithm, data: Buffer): Uint8Array {
  switch (alg) {
    case "RS256":
      return sign("sha256", data, key);
    case "PS256":
      return sign("sha256", data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case "ES256":
      return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
  }
}
