import { BrokerError } from "../../shared/errors/broker-error.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "../../shared/secrets/secret-store.js";
import type { ManualClock } from "./manual-clock.js";

/** In-memory inner store that counts reads and can be told to fail or to hold reads open. */
export class ScriptedStore implements SecretStore {
  readonly reads: { name: string; version: string | undefined; at: number }[] = [];
  failWith: Error | undefined;
  private readonly started: Promise<unknown>[] = [];
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private readonly data = new Map<string, SecretVersion[]>();
  private seq = 0;

  constructor(private readonly clock: ManualClock) {}

  put(name: string, value: string): SecretVersion {
    const secret: SecretVersion = { name, version: (++this.seq).toString(16).padStart(32, "0"), value, tags: {}, createdOn: this.seq, enabled: true };
    this.data.set(name, [...(this.data.get(name) ?? []), secret]);
    return secret;
  }

  /** Reads wait until `release()`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  get(name: string, version?: string): Promise<SecretVersion> {
    const read = this.read(name, version);
    this.started.push(read);
    return read;
  }

  /**
   * Resolves once every read started so far has settled and the cache has handled it: the cache
   * subscribed to each read before this call did, so its handlers run first.
   */
  async idle(): Promise<void> {
    await Promise.allSettled(this.started);
  }

  private async read(name: string, version: string | undefined): Promise<SecretVersion> {
    this.reads.push({ name, version, at: this.clock.now() });
    // The value is read when the call starts, like a request that reached the vault before a write.
    const list = this.data.get(name) ?? [];
    const found = version === undefined ? list.at(-1) : list.find((s) => s.version === version);
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    if (!found) throw new SecretNotFoundError(name);
    return { ...found, tags: { ...found.tags } };
  }

  async set(name: string, value: string): Promise<SecretVersion> {
    return this.put(name, value);
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    return (this.data.get(name) ?? []).map(({ value: _v, ...info }) => info);
  }

  latestReads(name: string): number {
    return this.reads.filter((r) => r.name === name && r.version === undefined).length;
  }
}

/** What a vault outage looks like from the store: a secret_unavailable that is not a missing secret. */
export const vaultDown = () => new BrokerError("secret_unavailable", "The secret store could not get secret (HTTP 503).", { retryAfterSec: 5 });
