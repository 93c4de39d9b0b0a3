import { type Clock, iso, type Random, type Sleeper } from "../clock.js";
import type { KeyApiSpec, RotationConfig } from "../config/rotation-schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { isConflict } from "../errors/conflict-error.js";
import { fingerprint } from "../log/fingerprint.js";
import { errorFields, type Logger } from "../log/logger.js";
import type { SecretStore } from "../secrets/secret-store.js";
import { SPANS } from "../telemetry/instruments.js";
import { noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { KeyLimitReachedError, type KeyCredential, type PartnerKey, type PartnerKeyApi } from "./key-api.js";
import { OPEN_PHASES, type PartnerJournal } from "./journal.js";
import { CRITICAL_WRITE, LeasedWriter, NORMAL_WRITE, type WriteRetry } from "./leased-writer.js";
import type { LockLease } from "./lock.js";
import { mustRetirePrevious, ownOrphans, protectedKeyIds, rotationVerdict, wantsRotation } from "./partner-decisions.js";
import { rotationFailure, type RotationResult } from "./rotation-types.js";
import { isDue } from "./schedule.js";
import { KEY_ID_TAG, serializeStoredKey, type StoredKey } from "./stored-key.js";

/*
 * Over 250 lines on purpose: one run of the partner-api state machine. Every step reads and amends
 * the same journal state under the same lease, and the order of its writes is what makes a crash at
 * any point recoverable (see PartnerRotation); the decisions themselves are in partner-decisions.ts.
 */

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

/** The new key never worked at the partner within the verify attempts; deleted unless a key secret version holds it. */
export class NewKeyRejectedError extends BrokerError {
  constructor(provider: string, attempts: number, kept = false) {
    const fate = kept ? "it was kept because a version of the key secret holds it" : "it was deleted";
    super("upstream_rejected", `The new key of "${provider}" was not accepted by the partner after ${attempts} verification attempt(s); ${fate} and the current key stays in use.`);
  }
}

/** One run under one lease. Holds the last journal state it wrote, which is what failures amend. */
export class PartnerRun {
  private journal!: PartnerJournal;
  private key!: StoredKey;
  private readonly actions: string[] = [];
  private readonly writer: LeasedWriter;
  private rotated = false;
  /** Whether a failure of this run counts as a failed rotation attempt (towards needs_attention). */
  private attempting = false;

  constructor(
    private readonly settings: PartnerRunSettings,
    private readonly deps: PartnerRotationDeps,
    private readonly reads: PartnerReads,
    lease: LockLease,
  ) {
    this.writer = new LeasedWriter(deps, lease, settings.provider);
  }

  private get provider(): string {
    return this.settings.provider;
  }

  async execute(manual: boolean): Promise<RotationResult> {
    try {
      [this.journal, this.key] = await Promise.all([this.reads.loadJournal(), this.reads.loadKey()]);
    } catch (error) {
      // Nothing is written: a journal that does not parse may still hold a new key's secret.
      return this.result("failed", toBrokerError(error));
    }
    const { rotation, spec } = this.settings;
    const due = isDue(this.key.createdAt, this.deps.clock.now(), rotation);
    this.attempting = wantsRotation(manual, due, this.journal) || ["creating", "created", "verified"].includes(this.journal.phase);
    let outcome: RotationResult["outcome"] = "no_change";
    let reason: string | undefined;
    try {
      if (OPEN_PHASES.includes(this.journal.phase)) await this.step("resume", () => this.resume());
      // The list is authenticated with the current key: it also proves that key works before the
      // previous one (its fallback) is deleted.
      let keys = await this.step("list", () => this.deps.keyApi.list(this.key));
      keys = await this.step("retire", () => this.retireIfDue(keys));
      keys = await this.step("sweep", () => this.sweep(keys));
      const verdict = this.rotated
        ? "rotated"
        : rotationVerdict({
            manual,
            due,
            needsAttention: this.journal.needsAttention,
            previousPending: this.key.previous !== undefined,
            keysLeft: keys.length,
            maxKeys: spec.maxKeys,
            currentListed: keys.some((k) => k.id === this.key.id),
          });
      if (verdict === "rotated") outcome = "rotated";
      else if (verdict === "not_due") reason = verdict;
      else if (verdict === "needs_attention" || verdict === "previous_pending") [outcome, reason] = ["skipped", verdict];
      else {
        await this.step("rotate", () => this.rotate(keys, verdict));
        outcome = "rotated";
      }
    } catch (error) {
      const failure = toBrokerError(error);
      await this.recordFailure(error, failure);
      return this.result(isConflict(failure, "key_limit_reached") ? "key_limit_reached" : "failed", failure);
    }
    const result = this.result(outcome);
    if (reason !== undefined) result.reason = reason;
    return result;
  }

  private async resume(): Promise<void> {
    const phase = this.journal.phase;
    this.actions.push(`resumed:${phase}`);
    this.deps.logger.log("info", "rotation_resumed", { provider: this.provider, phase, rotation_id: this.journal.rotationId });
    if (phase === "creating") return this.abandonCreate();
    if (phase === "created" || phase === "verified") {
      if (!this.journal.newKey) return this.abandonCreate();
      return this.continueWithNewKey(this.journal.newKey);
    }
    if (phase === "retiring" && this.key.previous?.id !== this.journal.retireKeyId) {
      // The key secret was already rewritten without the retired key: only the journal lags.
      await this.writeJournal({ ...this.journal, phase: "retired", retireKeyId: undefined }, NORMAL_WRITE);
    }
    // "retiring" with the previous key still present is finished by retireIfDue.
  }

  /** The create may or may not have happened: delete whatever carries this attempt's marker. */
  private async abandonCreate(): Promise<void> {
    const marker = this.journal.markerName;
    if (marker !== undefined) {
      const keys = await this.deps.keyApi.list(this.key);
      const keep = protectedKeyIds(this.key, this.journal, await this.reads.taggedKeyIds());
      for (const stray of keys.filter((k) => k.name === marker && !keep.has(k.id))) {
        await this.deleteAtPartner(stray.id, "orphan");
      }
    }
    await this.writeJournal({ ...this.journal, phase: "idle", newKey: undefined }, NORMAL_WRITE);
    this.actions.push(`abandoned:${this.journal.rotationId ?? "unknown"}`);
  }

  private async rotate(keys: PartnerKey[], verdict: "rotate" | "key_limit_reached" | "current_key_not_listed"): Promise<void> {
    const { spec } = this.settings;
    if (verdict === "key_limit_reached") throw new KeyLimitReachedError(this.provider);
    const current = keys.find((k) => k.id === this.key.id);
    if (verdict === "current_key_not_listed" || !current) {
      // Without its permissions and CIDRs the successor could not do what the current key does.
      throw new BrokerError("upstream_rejected", `The partner does not list the current key of "${this.provider}"; rotation needs it to copy its settings.`);
    }
    const copied: Record<string, unknown> = {};
    for (const field of spec.copyFromCurrent) {
      if (current.fields[field] !== undefined && current.fields[field] !== null) copied[field] = current.fields[field];
    }
    const rotationId = this.deps.newRotationId();
    const markerName = this.settings.marker + rotationId;
    await this.writeJournal(
      {
        v: 1,
        mode: "partner-api",
        phase: "creating",
        rotationId,
        markerName,
        oldKeyId: this.key.id,
        failures: this.journal.failures,
        needsAttention: this.journal.needsAttention,
        lastError: this.journal.lastError,
        lastRotatedAt: this.journal.lastRotatedAt,
        updatedAt: iso(this.deps.clock.now()),
      },
      NORMAL_WRITE,
    );
    this.deps.logger.log("info", "rotation_started", { provider: this.provider, rotation_id: rotationId, old_key_id: this.key.id });
    this.actions.push(`started:${rotationId}`);
    await this.ensureHeld();
    let created: KeyCredential;
    try {
      created = await this.step("create", () => this.deps.keyApi.create(this.key, { ...copied, [spec.fields.name]: markerName }));
    } catch (error) {
      // A timeout or 5xx does not say whether the key exists: look for it by its marker now.
      await this.abandonCreate().catch((cleanup: unknown) => this.logCleanupFailure(cleanup));
      throw error;
    }
    this.deps.logger.log("info", "rotation_key_created", {
      provider: this.provider,
      rotation_id: rotationId,
      new_key_id: created.id,
      new_key_fingerprint: fingerprint(created.secret),
    });
    try {
      await this.writeJournal({ ...this.journal, phase: "created", newKey: created }, CRITICAL_WRITE);
    } catch (error) {
      // The secret exists only in memory and cannot be kept: delete the key rather than leave it
      // unaccounted for (the journal still says "creating", so the next run would find it anyway).
      if (!isConflict(error, "lease_lost")) {
        await this.deleteAtPartner(created.id, "unrecorded").catch((cleanup: unknown) => this.logCleanupFailure(cleanup));
      }
      throw error;
    }
    await this.continueWithNewKey(created);
  }

  /** From "created"/"verified": verify, promote, close. Also the resume path. */
  private async continueWithNewKey(newKey: KeyCredential): Promise<void> {
    if (this.key.id === newKey.id) return this.finishPromoted(); // the promote committed before a crash
    const { attempts, delayMs } = this.settings.rotation.verify;
    let valid = false;
    for (let attempt = 1; attempt <= attempts && !valid; attempt++) {
      if (attempt > 1) await this.deps.sleeper.sleep(delayMs);
      // The lease is not renewed: once it is lost a successor resumes this journal, so stop here.
      await this.ensureHeld();
      // Transient partner errors throw: the journal keeps the key and the next run verifies again.
      valid = (await this.step("verify", () => this.deps.keyApi.verify(newKey))) === "valid";
    }
    if (!valid) {
      // Never delete a key that some key secret version holds (a promote that did commit, then the
      // key secret was rolled back): the tags are read now, not taken from earlier in the run.
      const kept = protectedKeyIds(this.key, this.journal, await this.reads.taggedKeyIds(), { inFlight: false }).has(newKey.id);
      if (!kept) await this.deleteAtPartner(newKey.id, "rejected");
      else this.deps.logger.log("warn", "rotation_rejected_key_kept", { provider: this.provider, key_id: newKey.id });
      await this.writeJournal({ ...this.journal, phase: "idle", newKey: undefined }, NORMAL_WRITE);
      throw new NewKeyRejectedError(this.provider, attempts, kept);
    }
    this.deps.logger.log("info", "rotation_verified", { provider: this.provider, rotation_id: this.journal.rotationId, new_key_id: newKey.id });
    if (this.journal.phase !== "verified") await this.writeJournal({ ...this.journal, phase: "verified" }, NORMAL_WRITE);
    await this.step("promote", () => this.promote(newKey));
    await this.step("finish", () => this.finishPromoted());
  }

  private async promote(newKey: KeyCredential): Promise<void> {
    const now = this.deps.clock.now();
    const old = this.key;
    if (old.previous && old.previous.id !== newKey.id) {
      this.deps.logger.log("warn", "rotation_previous_dropped", { provider: this.provider, key_id: old.previous.id });
    }
    const next: Omit<StoredKey, "version"> = {
      id: newKey.id,
      secret: newKey.secret,
      createdAt: now,
      ...(this.journal.rotationId === undefined ? {} : { rotationId: this.journal.rotationId }),
      previous: { id: old.id, secret: old.secret, retireAt: now + this.settings.rotation.graceMinutes * 60_000 },
    };
    const written = await this.writer.write(this.settings.keySecretName, serializeStoredKey(next), this.keyTags(next), CRITICAL_WRITE);
    this.key = { ...next, version: written.version };
    this.deps.logger.log("info", "rotation_promoted", {
      provider: this.provider,
      rotation_id: this.journal.rotationId,
      key_id: newKey.id,
      key_fingerprint: fingerprint(newKey.secret),
      previous_key_id: old.id,
      version: written.version,
    });
  }

  private async finishPromoted(): Promise<void> {
    try {
      await this.deps.onPromoted(this.provider);
    } catch (error) {
      // The cache keys on the secret version, so it converges anyway; this only speeds that up.
      this.deps.logger.log("warn", "rotation_cache_drop_failed", { provider: this.provider, ...errorFields(error) });
    }
    const previous = this.key.previous;
    const now = iso(this.deps.clock.now());
    await this.writeJournal(
      {
        v: 1,
        mode: "partner-api",
        phase: "done",
        rotationId: this.journal.rotationId ?? this.key.rotationId,
        newKeyId: this.key.id,
        oldKeyId: previous?.id,
        retireAt: previous ? iso(previous.retireAt) : undefined,
        failures: 0,
        needsAttention: false,
        lastRotatedAt: now,
        updatedAt: now,
      },
      NORMAL_WRITE,
    );
    this.rotated = true;
    this.actions.push(`rotated:${this.key.id}`);
    this.deps.logger.log("info", "rotation_done", { provider: this.provider, rotation_id: this.journal.rotationId, key_id: this.key.id });
  }

  private async retireIfDue(keys: PartnerKey[]): Promise<PartnerKey[]> {
    const previous = this.key.previous;
    if (!previous || !mustRetirePrevious(this.key, this.journal, this.deps.clock.now())) return keys;
    const resuming = this.journal.phase === "retiring" && this.journal.retireKeyId === previous.id;
    if (previous.id !== this.key.id) {
      if (!resuming) await this.writeJournal({ ...this.journal, phase: "retiring", retireKeyId: previous.id }, NORMAL_WRITE);
      await this.deleteAtPartner(previous.id, "retired");
      await this.writeJournal({ ...this.journal, phase: "retired", retireKeyId: undefined }, NORMAL_WRITE);
    }
    const next: Omit<StoredKey, "version"> = {
      id: this.key.id,
      secret: this.key.secret,
      createdAt: this.key.createdAt,
      ...(this.key.rotationId === undefined ? {} : { rotationId: this.key.rotationId }),
    };
    const written = await this.writer.write(this.settings.keySecretName, serializeStoredKey(next), this.keyTags(next), NORMAL_WRITE);
    this.key = { ...next, version: written.version };
    this.actions.push(`retired:${previous.id}`);
    return keys.filter((k) => k.id !== previous.id);
  }

  /** Deletes broker-marked keys of this provider that nothing refers to; other keys are never touched. */
  private async sweep(keys: PartnerKey[]): Promise<PartnerKey[]> {
    const orphans = ownOrphans(keys, this.settings.marker, protectedKeyIds(this.key, this.journal, await this.reads.taggedKeyIds()));
    if (orphans.length === 0) return keys;
    const ids = orphans.map((k) => k.id);
    await this.writeJournal({ ...this.journal, sweeping: ids }, NORMAL_WRITE);
    for (const id of ids) await this.deleteAtPartner(id, "orphan");
    await this.writeJournal({ ...this.journal, sweeping: undefined }, NORMAL_WRITE);
    this.actions.push(`swept:${ids.length}`);
    return keys.filter((k) => !ids.includes(k.id));
  }

  private async deleteAtPartner(id: string, why: "orphan" | "retired" | "rejected" | "unrecorded"): Promise<void> {
    if (id === this.key.id) throw new BrokerError("internal", "Refused to delete the current key."); // defence in depth
    await this.ensureHeld();
    const result = await this.deps.keyApi.delete(this.key, id);
    this.deps.logger.log("info", "rotation_key_deleted", { provider: this.provider, key_id: id, reason: why, result });
  }

  private async recordFailure(error: unknown, failure: BrokerError): Promise<void> {
    const code = isConflict(failure, "key_limit_reached") ? "key_limit_reached" : failure.code;
    this.deps.logger.log("error", "rotation_failed", {
      provider: this.provider,
      phase: this.journal.phase,
      rotation_id: this.journal.rotationId,
      code,
      ...errorFields(error),
    });
    if (isConflict(failure, "lease_lost")) return; // someone else owns the journal now
    const counts = this.attempting;
    const failures = this.journal.failures + (counts ? 1 : 0);
    const maxFailures = this.settings.rotation.maxFailures;
    const lastError = { code, detail: failure.detail, at: iso(this.deps.clock.now()) };
    if (!counts && this.journal.lastError?.code === code && this.journal.lastError.detail === failure.detail) return;
    const next: PartnerJournal = {
      ...this.journal,
      failures,
      needsAttention: this.journal.needsAttention || failures >= maxFailures,
      lastError,
    };
    try {
      await this.writeJournal(next, NORMAL_WRITE);
      if (next.needsAttention && !this.journal.needsAttention) {
        this.deps.logger.log("error", "rotation_needs_attention", { provider: this.provider, failures });
      }
    } catch (writeError) {
      this.deps.logger.log("error", "rotation_failure_not_recorded", { provider: this.provider, ...errorFields(writeError) });
    }
  }

  /** One span per step of the run, carrying the journal phase the step left behind. */
  private step<T>(step: string, fn: () => Promise<T>): Promise<T> {
    const telemetry = this.deps.telemetry ?? noTelemetry;
    return telemetry.span(SPANS.rotationStep, { attributes: { provider: this.provider, step } }, async (span) => {
      try {
        return await fn();
      } finally {
        span.set({ phase: this.journal.phase });
      }
    });
  }

  private async writeJournal(next: PartnerJournal, retry: WriteRetry): Promise<void> {
    const value: PartnerJournal = { ...next, updatedAt: iso(this.deps.clock.now()), fencingToken: this.writer.fencingToken };
    await this.writer.write(this.settings.journalName, JSON.stringify(value), { purpose: "rotation-journal", provider: this.provider }, retry);
    this.journal = value;
  }

  private keyTags(key: Omit<StoredKey, "version">): Record<string, string> {
    return { [KEY_ID_TAG]: key.id, "managed-by": "token-broker", ...(key.rotationId ? { rotationId: key.rotationId } : {}) };
  }

  private ensureHeld(): Promise<void> {
    return this.writer.ensureHeld();
  }

  private logCleanupFailure(error: unknown): void {
    this.deps.logger.log("warn", "rotation_cleanup_deferred", { provider: this.provider, ...errorFields(error) });
  }

  private result(outcome: RotationResult["outcome"], failure?: BrokerError): RotationResult {
    const key = this.key as StoredKey | undefined;
    return {
      provider: this.provider,
      mode: "partner-api",
      outcome,
      actions: this.actions,
      ...(key ? { keyId: key.id } : {}),
      ...(key?.previous ? { previousKeyId: key.previous.id, retireAt: iso(key.previous.retireAt) } : {}),
      ...(failure ? { error: rotationFailure(failure) } : {}),
    };
  }
}
