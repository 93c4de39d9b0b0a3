import type { KeyClient } from "@azure/keyvault-keys";
import { type Clock, iso } from "../clock.js";
import type { OAuth2ProviderConfig, SigningKeyConfig } from "../config/oauth2-schema.js";
import type { BrokerConfig } from "../config/schema.js";
import { BrokerError } from "../errors/broker-error.js";
import { ConflictError } from "../errors/conflict-error.js";
import type { Lock } from "../rotation/lock.js";
import type { SecretStore } from "../secrets/secret-store.js";
import type { AssertionSigner, SigningKeyRef } from "./assertion-signer.js";
import type { PublicJwk } from "./jws.js";
import type { KeyVaultSigner } from "./key-vault-signer.js";
import { PemSigner } from "./pem-signer.js";

/** Publish a version this long before it signs when the key is rotated outside the broker. */
const DEFAULT_PUBLISH_OVERLAP_MIN = 60;
/** How long one rotation step may hold the provider's signing-key lock (a create or a few disables in the vault). */
const ROTATION_LOCK_TTL_MS = 5 * 60_000;
/** The longest a partner is told to cache /api/jwks. */
const JWKS_MAX_AGE_SEC = 300;
/** Clock skew a partner may allow on an assertion's exp, on top of its lifetime. */
const ASSERTION_SKEW_MS = 5 * 60_000;

export interface SigningKeysDeps {
  config: BrokerConfig;
  secrets: SecretStore;
  clock: Clock;
  /** KEY_VAULT_URL: the vault of keyVaultKey keys without their own vaultUrl. */
  defaultVaultUrl?: string;
  /** Builds the keys client of a vault (Azure SDK, loaded only when a vault key is configured). */
  keyClient: (vaultUrl: string) => Promise<KeyClient>;
  /** One rotation step per provider at a time, fleet-wide with Redis: two at once would each create a version. */
  lock: Lock;
}

export interface SigningKeyRotation {
  provider: string;
  dry_run: boolean;
  signing?: string;
  published: string[];
  created?: string;
  disabled?: string[];
  would_create?: boolean;
  would_disable?: string[];
}

export interface SigningKeyStatus {
  provider: string;
  source: "key-vault" | "pem";
  key: string;
  signing?: string;
  published: string[];
  /** Vault keys: every enabled version with its age; a PEM key has only the version that signs. */
  versions?: { kid: string; created_at: string; age_days: number; state: "signing" | "next" | "previous" }[];
  rotation: { intervalDays: number; nextCreate: boolean } | null;
}

/**
 * The signing keys of every private_key_jwt provider: their signers (built on first use, so the
 * Key Vault keys SDK loads only when a vault key is configured), the JWKS partners fetch from
 * /api/jwks, and the rotation steps the maintenance timer runs.
 */
export class SigningKeys {
  private readonly signers = new Map<string, Promise<AssertionSigner>>();
  private readonly providers: [string, OAuth2ProviderConfig & { signingKey: SigningKeyConfig }][];

  constructor(private readonly deps: SigningKeysDeps) {
    this.providers = Object.entries(deps.config.providers).flatMap(([name, p]) =>
      p.kind === "oauth2" && p.signingKey ? [[name, p as OAuth2ProviderConfig & { signingKey: SigningKeyConfig }] as const] : [],
    );
  }

  get configured(): boolean {
    return this.providers.length > 0;
  }

  /** The provider's signer, as a value usable at once (it loads itself on first use). */
  signerFor(provider: string): AssertionSigner {
    const load = () => this.load(provider);
    return {
      current: async () => (await load()).current(),
      sign: async (key: SigningKeyRef, input: string) => (await load()).sign(key, input),
      publicKeys: async () => (await load()).publicKeys(),
    };
  }

  /**
   * How long partners may cache /api/jwks: at most 5 minutes, and never longer than half the
   * shortest publication overlap, so a partner honouring it sees a new version before it signs.
   */
  jwksMaxAgeSec(): number {
    const overlaps = this.providers.map(([, p]) => (p.signingKey.rotation?.publishOverlapMinutes ?? DEFAULT_PUBLISH_OVERLAP_MIN) * 60);
    return Math.floor(Math.min(JWKS_MAX_AGE_SEC, ...overlaps.map((s) => s / 2)));
  }

  /** Every published public key, each kid once. */
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    const all = await Promise.all(this.providers.map(([name]) => this.load(name).then((s) => s.publicKeys())));
    const byKid = new Map<string, PublicJwk>();
    for (const key of all.flat()) byKid.set(key.kid, key);
    return { keys: [...byKid.values()] };
  }

  /** Providers whose signing key the broker rotates. */
  rotating(): string[] {
    return this.providers.filter(([, p]) => p.signingKey.rotation).map(([name]) => name);
  }

  /** One rotation step of a provider's vault key (maintenance timer; operators, with a dry run). */
  async rotate(provider: string, dryRun: boolean): Promise<SigningKeyRotation> {
    if (!this.rotating().includes(provider)) throw new BrokerError("bad_request", `Provider "${provider}" has no signing key rotation configured.`);
    const signer = (await this.load(provider)) as KeyVaultSigner;
    const lease = dryRun ? undefined : await this.deps.lock.tryAcquire(`signing-key:${provider}`, ROTATION_LOCK_TTL_MS);
    if (!dryRun && !lease) throw new ConflictError("rotation_running", `A signing key rotation of "${provider}" is already running.`);
    const { plan, created, disabled } = await signer.rotate(dryRun).finally(() => lease?.release());
    return {
      provider,
      dry_run: dryRun,
      signing: plan.signing,
      published: plan.publish,
      ...(dryRun ? { would_create: plan.create, would_disable: plan.retire } : { created, disabled }),
    };
  }

  async status(): Promise<SigningKeyStatus[]> {
    return Promise.all(
      this.providers.map(async ([name, p]) => {
        const signer = await this.load(name);
        const rotation = p.signingKey.rotation;
        if (p.signingKey.pem) {
          const key = await signer.current();
          return { provider: name, source: "pem" as const, key: p.signingKey.pem.secret, signing: key.kid, published: [key.kid], rotation: null };
        }
        const { plan, versions } = await (signer as KeyVaultSigner).describe();
        const now = this.deps.clock.now();
        const signingCreated = versions.find((v) => v.version === plan.signing)?.createdOn ?? 0;
        return {
          provider: name,
          source: "key-vault" as const,
          key: p.signingKey.keyVaultKey!,
          signing: plan.signing,
          published: plan.publish,
          versions: versions
            .filter((v) => plan.publish.includes(v.version))
            .sort((a, b) => b.createdOn - a.createdOn)
            .map((v) => ({
              kid: v.version,
              created_at: iso(v.createdOn),
              age_days: Math.floor(((now - v.createdOn) / 86_400_000) * 10) / 10,
              state: v.version === plan.signing ? ("signing" as const) : v.createdOn > signingCreated ? ("next" as const) : ("previous" as const),
            })),
          rotation: rotation ? { intervalDays: rotation.intervalDays, nextCreate: plan.create } : null,
        };
      }),
    );
  }

  private load(provider: string): Promise<AssertionSigner> {
    let signer = this.signers.get(provider);
    if (!signer) {
      signer = this.create(provider);
      this.signers.set(provider, signer);
      signer.catch(() => this.signers.delete(provider));
    }
    return signer;
  }

  private async create(provider: string): Promise<AssertionSigner> {
    const config = this.providers.find(([name]) => name === provider)?.[1];
    if (!config) throw new BrokerError("internal", `Provider "${provider}" has no signing key.`);
    const { signingKey, assertion } = config;
    if (signingKey.pem) return new PemSigner(signingKey.pem.secret, signingKey.algorithm, this.deps.secrets);
    const vaultUrl = signingKey.vaultUrl ?? this.deps.defaultVaultUrl;
    if (!vaultUrl) throw new BrokerError("secret_unavailable", `Provider "${provider}" signs with a Key Vault key but no vault is configured (KEY_VAULT_URL or signingKey.vaultUrl).`);
    const { KeyVaultSigner } = await import("./key-vault-signer.js");
    const overlapMin = signingKey.rotation?.publishOverlapMinutes ?? DEFAULT_PUBLISH_OVERLAP_MIN;
    return new KeyVaultSigner({
      client: await this.deps.keyClient(vaultUrl),
      keyName: signingKey.keyVaultKey!,
      alg: signingKey.algorithm,
      clock: this.deps.clock,
      policy: {
        publishOverlapMs: overlapMin * 60_000,
        inUseMs: assertion.lifetimeSec * 1000 + ASSERTION_SKEW_MS,
        intervalMs: signingKey.rotation ? signingKey.rotation.intervalDays * 86_400_000 : undefined,
      },
    });
  }
}
