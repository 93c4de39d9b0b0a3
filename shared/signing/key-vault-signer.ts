import { createHash } from "node:crypto";
import type { CryptographyClient, KeyClient, KeyVaultKey } from "@azure/keyvault-keys";
import type { Clock } from "../clock.js";
import { BrokerError } from "../errors/broker-error.js";
import type { AssertionSigner, SigningKeyRef } from "./assertion-signer.js";
import type { AssertionAlgorithm, PublicJwk } from "./jws.js";
import { planSigningKeys, type KeyVersionInfo, type SigningKeyPlan, type SigningKeyPolicy } from "./signing-key-plan.js";

/** How long the listed versions are trusted before the vault is asked again. */
const VERSIONS_TTL_MS = 60_000;

export interface KeyVaultSignerOptions {
  client: KeyClient;
  keyName: string;
  alg: AssertionAlgorithm;
  policy: SigningKeyPolicy;
  clock: Clock;
}

/**
 * Signs with a Key Vault key through `CryptographyClient.sign`: the SHA-256 digest is computed
 * here and the signature made in the vault, so the private key never exists in this process. The
 * kid is the key version. Which version signs and which are published follows planSigningKeys over
 * the vault's listed versions; rotation (the maintenance timer) creates and disables versions.
 */
export class KeyVaultSigner implements AssertionSigner {
  private listed: { at: number; versions: Promise<KeyVersionInfo[]> } | undefined;
  private readonly jwks = new Map<string, Promise<PublicJwk>>();
  private readonly crypto = new Map<string, CryptographyClient>();

  constructor(private readonly options: KeyVaultSignerOptions) {}

  get keyName(): string {
    return this.options.keyName;
  }

  async plan(fresh = false): Promise<SigningKeyPlan> {
    return (await this.describe(fresh)).plan;
  }

  /** The plan with the versions it was made from (for status: versions and their ages). */
  async describe(fresh = false): Promise<{ plan: SigningKeyPlan; versions: KeyVersionInfo[] }> {
    const versions = await this.versions(fresh);
    return { plan: planSigningKeys(versions, this.options.clock.now(), this.options.policy), versions };
  }

  async current(): Promise<SigningKeyRef> {
    const { signing } = await this.plan();
    if (!signing) throw new BrokerError("secret_unavailable", `Key Vault key "${this.options.keyName}" has no enabled version.`);
    return { kid: signing, alg: this.options.alg };
  }

  async sign(key: SigningKeyRef, input: string): Promise<Uint8Array> {
    let client = this.crypto.get(key.kid);
    if (!client) {
      client = this.options.client.getCryptographyClient(this.options.keyName, { keyVersion: key.kid });
      this.crypto.set(key.kid, client);
    }
    const digest = createHash("sha256").update(input).digest();
    const result = await client.sign(key.alg, digest);
    return result.result;
  }

  async publicKeys(): Promise<PublicJwk[]> {
    const { publish } = await this.plan();
    return Promise.all(publish.map((version) => this.publicKey(version)));
  }

  /** Applies the plan's rotation steps; returns what it did. Safe to repeat: it decides from the vault's state. */
  async rotate(dryRun: boolean): Promise<{ plan: SigningKeyPlan; created?: string; disabled: string[] }> {
    const plan = await this.plan(true);
    if (dryRun) return { plan, disabled: [] };
    const { client, keyName, alg } = this.options;
    let created: string | undefined;
    if (plan.create) {
      const key = alg === "ES256" ? await client.createEcKey(keyName, { curve: "P-256" }) : await client.createRsaKey(keyName, { keySize: 2048 });
      created = key.properties.version;
    }
    for (const version of plan.retire) await client.updateKeyProperties(keyName, version, { enabled: false });
    if (created || plan.retire.length > 0) this.listed = undefined;
    return { plan, created, disabled: plan.retire };
  }

  private versions(fresh: boolean): Promise<KeyVersionInfo[]> {
    const now = this.options.clock.now();
    if (!fresh && this.listed && now - this.listed.at < VERSIONS_TTL_MS) return this.listed.versions;
    const versions = (async () => {
      const out: KeyVersionInfo[] = [];
      for await (const p of this.options.client.listPropertiesOfKeyVersions(this.options.keyName)) {
        if (p.version && p.createdOn) out.push({ version: p.version, createdOn: p.createdOn.getTime(), enabled: p.enabled !== false });
      }
      return out;
    })();
    this.listed = { at: now, versions };
    // A failed listing is not cached.
    versions.catch(() => {
      if (this.listed?.versions === versions) this.listed = undefined;
    });
    return versions;
  }

  private publicKey(version: string): Promise<PublicJwk> {
    let jwk = this.jwks.get(version);
    if (!jwk) {
      jwk = this.options.client.getKey(this.options.keyName, { version }).then((key) => toPublicJwk(key, version, this.options.alg));
      this.jwks.set(version, jwk);
      jwk.catch(() => this.jwks.delete(version));
    }
    return jwk;
  }
}

/** The public half of a vault key as a JWK (base64url members), named by its version. */
export function toPublicJwk(key: KeyVaultKey, version: string, alg: AssertionAlgorithm): PublicJwk {
  const k = key.key;
  const b64 = (v: Uint8Array | undefined) => (v ? Buffer.from(v).toString("base64url") : undefined);
  if (k?.kty === "RSA" || k?.kty === "RSA-HSM") return { kty: "RSA", n: b64(k.n), e: b64(k.e), kid: version, alg, use: "sig" };
  if ((k?.kty === "EC" || k?.kty === "EC-HSM") && k.crv === "P-256") {
    return { kty: "EC", crv: "P-256", x: b64(k.x), y: b64(k.y), kid: version, alg, use: "sig" };
  }
  throw new BrokerError("secret_unavailable", `Key Vault key version ${version} is not an RSA or P-256 key.`);
}
