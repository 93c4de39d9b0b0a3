import { type Clock, iso, type Random, type Sleeper } from "../clock.js";
import type { KeyApiSpec, RotationConfig } from "../config/rotation-schema.js";
import { BrokerError } from "../errors/broker-error.js";
import { isConflict } from "../errors/conflict-error.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { SecretStore } from "../secrets/secret-store.js";
import { SPANS } from "../telemetry/instruments.js";
import { noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import type { PartnerKeyApi } from "./key-api.js";
import { type PartnerJournal, withFailure } from "./journal.js";
import { LeasedWriter, NORMAL_WRITE, type WriteRetry } from "./leased-writer.js";
import type { LockLease } from "./lock.js";
import { rotationFailure, type RotationResult } from "./rotation-types.js";
import { KEY_ID_TAG, serializeStoredKey, type StoredKey } from "./stored-key.js";

export interface PartnerRotationSettings {
  provider: string;
  keySecretName: string;
  rotation: RotationConfig;
  spec: KeyApiSpec;
}

export interface PartnerRunSettings extends PartnerRotationSettings {
  journalName: string;
  /** Start of the names of this deployment's keys for this provider (see rotation.keyNamePrefix). */
  marker: string;
}

export interface PartnerRotationDeps {
  /** Must read through to the vault (no cache): a stale key read would make the sweep delete the live key. */
  secrets: SecretStore;
  clock: Clock;
  sleeper: Sleeper;
  random: Random;
  logger: Logger;
  keyApi: PartnerKeyApi;
  onPromoted(provider: string): Promise<void>;
  newRotationId(): string;
  telemetry?: Telemetry;
}

/** The reads a run starts from and repeats before each delete. */
export interface PartnerReads {
  loadKey(): Promise<StoredKey>;
  loadJournal(): Promise<PartnerJournal>;
  /** Ids of every key the broker ever promoted (tags of the key secret's versions). */
  taggedKeyIds(): Promise<Set<string>>;
}

/** The journal's code for a failure: a full key account is told apart from other conflicts. */
function journalCode(failure: BrokerError): string {
  return isConflict(failure, "key_limit_reached") ? "key_limit_reached" : failure.code;
}

/**
 * What one partner-api run has done and every effect it has: the journal and key secret it wrote
 * last (what the next step and a failure amend), the actions it reports, the writes to the vault and
 * the deletes at the partner (each under the run's lease), a span per step and the record of a
 * failure. Which step comes when is the run's (partner-run.ts, partner-new-key.ts).
 */
export class PartnerRunState {
  readonly actions: string[] = [];
  private readonly writer: LeasedWriter;
  private lastJournal!: PartnerJournal;
  private lastKey!: StoredKey;

  constructor(
    private readonly settings: PartnerRunSettings,
    private readonly deps: PartnerRotationDeps,
    lease: LockLease,
  ) {
    this.writer = new LeasedWriter(deps, lease, settings.provider);
  }

  /** Reads the journal and the key secret the run starts from. */
  async load(reads: PartnerReads): Promise<void> {
    [this.lastJournal, this.lastKey] = await Promise.all([reads.loadJournal(), reads.loadKey()]);
  }

  /** The journal as last read or written. Read only once load() succeeded. */
  get journal(): PartnerJournal {
    return this.lastJournal;
  }

  /** The key secret as last read or written. Read only once load() succeeded. */
  get key(): StoredKey {
    return this.lastKey;
  }

  /** Throws LeaseLostError once the lease is gone: the successor continues from the journal. */
  ensureHeld(): Promise<void> {
    return this.writer.ensureHeld();
  }

  async writeJournal(next: PartnerJournal, retry: WriteRetry): Promise<void> {
    const value: PartnerJournal = { ...next, updatedAt: iso(this.deps.clock.now()), fencingToken: this.writer.fencingToken };
    await this.writer.write(this.settings.journalName, JSON.stringify(value), { purpose: "rotation-journal", provider: this.settings.provider }, retry);
    this.lastJournal = value;
  }

  /** Writes a new version of the key secret, tagged with its key id; returns the version written. */
  async writeKey(next: Omit<StoredKey, "version">, retry: WriteRetry): Promise<string> {
    const tags = { [KEY_ID_TAG]: next.id, "managed-by": "token-broker", ...(next.rotationId ? { rotationId: next.rotationId } : {}) };
    const written = await this.writer.write(this.settings.keySecretName, serializeStoredKey(next), tags, retry);
    this.lastKey = { ...next, version: written.version };
    return written.version;
  }

  async deleteAtPartner(id: string, why: "orphan" | "retired" | "rejected" | "unrecorded"): Promise<void> {
    if (id === this.key.id) throw new BrokerError("internal", "Refused to delete the current key."); // defence in depth
    await this.ensureHeld();
    const result = await this.deps.keyApi.delete(this.key, id);
    this.deps.logger.log("info", "rotation_key_deleted", { provider: this.settings.provider, key_id: id, reason: why, result });
  }

  /** One span per step of the run, carrying the journal phase the step left behind. */
  step<T>(step: string, fn: () => Promise<T>): Promise<T> {
    const telemetry = this.deps.telemetry ?? noTelemetry;
    return telemetry.span(SPANS.rotationStep, { attributes: { provider: this.settings.provider, step } }, async (span) => {
      try {
        return await fn();
      } finally {
        span.set({ phase: this.journal.phase });
      }
    });
  }

  /**
   * Logs the failure and amends the journal with it; a failure that `counts` (a rotation was
   * attempted) adds towards needs_attention. Nothing is written once the lease is lost (the journal
   * is someone else's), nor for an uncounted failure the journal records already.
   */
  async recordFailure(error: unknown, failure: BrokerError, counts: boolean): Promise<void> {
    const provider = this.settings.provider;
    const code = journalCode(failure);
    this.deps.logger.log("error", "rotation_failed", {
      provider,
      phase: this.journal.phase,
      rotation_id: this.journal.rotationId,
      code,
      ...errorFields(error),
    });
    if (isConflict(failure, "lease_lost")) return;
    const lastError = { code, detail: failure.detail, at: iso(this.deps.clock.now()) };
    if (!counts && this.journal.lastError?.code === code && this.journal.lastError.detail === failure.detail) return;
    const next = withFailure(this.journal, lastError, counts, this.settings.rotation.maxFailures);
    const flaggedBefore = this.journal.needsAttention;
    try {
      await this.writeJournal(next, NORMAL_WRITE);
      if (next.needsAttention && !flaggedBefore) {
        this.deps.logger.log("error", "rotation_needs_attention", { provider, failures: next.failures });
      }
    } catch (writeError) {
      this.deps.logger.log("error", "rotation_failure_not_recorded", { provider, ...errorFields(writeError) });
    }
  }

  result(outcome: RotationResult["outcome"], failure?: BrokerError): RotationResult {
    const key = this.lastKey as StoredKey | undefined; // a run whose load failed reports no key
    return {
      provider: this.settings.provider,
      mode: "partner-api",
      outcome,
      actions: this.actions,
      ...(key ? { keyId: key.id } : {}),
      ...(key?.previous ? { previousKeyId: key.previous.id, retireAt: iso(key.previous.retireAt) } : {}),
      ...(failure ? { error: rotationFailure(failure) } : {}),
    };
  }
}
