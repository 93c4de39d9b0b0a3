import type { Clock } from "../../shared/clock.js";
import { BrokerError } from "../../shared/errors/broker-error.js";
import { SecretNotFoundError, type SecretStore, type SecretVersion, type SecretVersionInfo } from "../../shared/secrets/secret-store.js";

export type StoreOp = "get" | "set" | "list";

/**
 * A queued failure. "error" fails without effect (a Key Vault 5xx), "throttle" likewise (429),
 * "commit-then-error" writes and then reports failure (the response was lost).
 */
export interface StoreFault {
  op: StoreOp;
  kind: "error" | "throttle" | "commit-then-error";
  /** Only for this secret name. */
  name?: string;
  /** Only for writes whose value matches. */
  match?: (value: string) => boolean;
  /** How many calls it hits (default 1). */
  times?: number;
}

/** Versions, tags and creation times like Key Vault, kept in memory; faults are injected per call. */
export class MemorySecretStore implements SecretStore {
  readonly faults: StoreFault[] = [];
  readonly calls: { op: StoreOp; name: string }[] = [];
  private readonly data = new Map<string, SecretVersion[]>();
  private counter = 0;

  constructor(private readonly clock: Clock = { now: () => Date.now() }) {}

  async get(name: string, version?: string): Promise<SecretVersion> {
    this.calls.push({ op: "get", name });
    this.fault("get", name);
    const versions = this.data.get(name) ?? [];
    const found = version === undefined ? versions.at(-1) : versions.find((v) => v.version === version);
    if (!found) throw new SecretNotFoundError(name);
    // The newest version is authoritative, as in Key Vault (403 on a disabled latest version).
    if (version === undefined && !found.enabled) throw new BrokerError("secret_unavailable", "The newest version is disabled.");
    return { ...found, tags: { ...found.tags } };
  }

  async set(name: string, value: string, tags: Record<string, string> = {}): Promise<SecretVersion> {
    this.calls.push({ op: "set", name });
    const fault = this.fault("set", name, value, true);
    const written = this.seed(name, value, tags);
    if (fault) throw storeError(fault);
    return written;
  }

  async listVersions(name: string): Promise<SecretVersionInfo[]> {
    this.calls.push({ op: "list", name });
    this.fault("list", name);
    return (this.data.get(name) ?? []).map(({ value: _value, ...info }) => ({ ...info, tags: { ...info.tags } }));
  }

  /** Writes without faults or call records: test set-up and operator actions. */
  seed(name: string, value: string, tags: Record<string, string> = {}): SecretVersion {
    const version: SecretVersion = {
      name,
      version: (++this.counter).toString(16).padStart(32, "0"),
      value,
      tags: { ...tags },
      createdOn: this.clock.now(),
      enabled: true,
    };
    const versions = this.data.get(name) ?? [];
    versions.push(version);
    this.data.set(name, versions);
    return { ...version, tags: { ...version.tags } };
  }

  latest(name: string): SecretVersion | undefined {
    return (this.data.get(name) ?? []).filter((v) => v.enabled).at(-1);
  }

  versions(name: string): SecretVersion[] {
    return [...(this.data.get(name) ?? [])];
  }

  names(): string[] {
    return [...this.data.keys()];
  }

  /** Consumes a matching fault. For commit-then-error writes the fault is returned, else thrown. */
  private fault(op: StoreOp, name: string, value?: string, allowCommit = false): StoreFault | undefined {
    const index = this.faults.findIndex(
      (f) => f.op === op && (f.name === undefined || f.name === name) && (f.match === undefined || (value !== undefined && f.match(value))),
    );
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    const left = (fault.times ?? 1) - 1;
    if (left <= 0) this.faults.splice(index, 1);
    else fault.times = left;
    if (fault.kind === "commit-then-error" && allowCommit) return fault;
    throw storeError(fault);
  }
}

function storeError(fault: StoreFault): BrokerError {
  return fault.kind === "throttle"
    ? new BrokerError("secret_unavailable", "The secret store is throttling requests (HTTP 429).")
    : new BrokerError("secret_unavailable", "The secret store failed (HTTP 503).");
}
