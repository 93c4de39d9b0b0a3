import { SPANS } from "../telemetry/instruments.js";
import { noTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { type Clock, iso, type Random, type Sleeper } from "../clock.js";
import type { KeyApiSpec, RotationConfig } from "../config/rotation-schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { fingerprint } from "../log/fingerprint.js";
import { errorFields, type Logger } from "../log/logger.js";
import { SecretNotFoundError, type SecretStore } from "../secrets/secret-store.js";
import { KeyLimitReachedError, PartnerKeyApi, type KeyCredential, type PartnerKey } from "./key-api.js";
import { OPEN_PHASES, journalSecretName, readJournal, type PartnerJournal } from "./journal.js";
import { CRITICAL_WRITE, LeaseLostError, LeasedWriter, NORMAL_WRITE, type WriteRetry } from "./leased-writer.js";
import type { LockLease } from "./lock.js";
import type { RotationPlan, RotationResult, RotationStatus } from "./rotation-types.js";
import { KEY_ID_TAG, parseStoredKey, serializeStoredKey, type StoredKey } from "./stored-key.js";
import { keyAge } from "./key-age.js";

export interface PartnerRotationSettings {
  provider: string;
  keySecretName: string;
  rotation: RotationConfig;
  spec: KeyApiSpec;
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

/** The new key never worked at the partner within the verify attempts; deleted unless a key secret version holds it. */
export class NewKeyRejectedError extends BrokerError {
  constructor(provider: string, attempts: number, kept = false) {
    const fate = kept ? "it was kept because a version of the key secret holds it" : "it was deleted";
    super("upstream_rejected", `The new key of "${provider}" was not accepted by the partner after ${attempts} verification attempt(s); ${fate} and the current key stays in use.`);
  }
}

/**
 * Rotation of a partner API key whose secret is returned only once (Silverflow), as a state machine
 * persisted in the journal. Order of a rotation:
 *   journal "creating" -> partner create (named with the broker marker) -> journal "created" with the
 *   new secret (the only copy) -> verify WITH the new key -> journal "verified" -> key secret
 *   {new, previous: old} (promote) -> onPromoted -> journal "done" (no secret).
 * Any crash leaves a journal phase from which the next run converges: "creating" deletes what the
 * create may have made; "created"/"verified" re-verifies and promotes (or deletes a key that never
 * works); a promote that committed is detected by the key secret already holding the new id. The
 * old key stays valid as "previous" until its retirement after the grace period, so callers holding
 * a credential built from it keep working meanwhile.
 */
export class PartnerRotation {
  constructor(
    readonly settings: PartnerRotationSettings,
    readonly deps: PartnerRotationDeps,
  ) {}

  get journalName(): string {
    return journalSecretName(this.settings.keySecretName);
  }

  /** Start of the names of this deployment's keys for this provider (see rotation.keyNamePrefix). */
  get marker(): string {
    return PartnerKeyApi.markerPrefix(this.settings.rotation.keyNamePrefix, this.settings.provider);
  }

  async run(lease: LockLease, options: { manual: boolean }): Promise<RotationResult> {
    return new PartnerRun(this, lease).execute(options.manual);
  }

  /** What a run would do, from reads only (the key list is a GET): no lock, no write, no create/delete. */
  async plan(manual: boolean): Promise<RotationPlan> {
    const { provider, rotation, spec } = this.settings;
    const [journal, key] = await Promise.all([this.loadJournal(), this.loadKey()]);
    const now = this.deps.clock.now();
    const dueAt = key.createdAt + rotation.intervalHours * 3_600_000;
    const steps: string[] = [];
    const plan: RotationPlan = {
      provider,
      mode: "partner-api",
      currentKeyId: key.id,
      keyCreatedAt: iso(key.createdAt),
      nextDueAt: iso(dueAt),
      due: now >= dueAt,
      steps,
    };
    if (OPEN_PHASES.includes(journal.phase)) {
      plan.openPhase = journal.phase;
      steps.push(`resume the interrupted run from phase "${journal.phase}"`);
    }
    const keys = await this.deps.keyApi.list(key);
    const tagged = await this.taggedKeyIds();
    let remaining = keys.length;
    if (key.previous && key.previous.retireAt <= now) {
      steps.push(`retire previous key ${key.previous.id}`);
      if (keys.some((k) => k.id === key.previous?.id)) remaining--;
    }
    const inUse = protectedIds(key, journal, tagged);
    const orphans = keys.filter((k) => isOwnOrphan(k, this.marker, inUse));
    const prefix = this.marker;
    plan.ownOrphans = orphans.map((k) => k.id);
    // Foreign: keys this broker neither uses nor created. The current and previous keys may carry
    // no marker (the first key is made by a person) but are the broker's to rotate and retire.
    plan.foreignKeys = keys.filter((k) => !k.name?.startsWith(prefix) && !inUse.has(k.id)).length;
    plan.keysAtPartner = keys.length;
    plan.maxKeys = spec.maxKeys;
    if (orphans.length) steps.push(`delete ${orphans.length} orphaned broker key(s)`);
    remaining -= orphans.length;
    const previousPending = key.previous !== undefined && key.previous.retireAt > now;
    if (manual || plan.due) {
      if (!manual && journal.needsAttention) plan.blockedBy = "needs_attention";
      else if (previousPending) plan.blockedBy = "previous_pending";
      else if (remaining >= spec.maxKeys) plan.blockedBy = "key_limit_reached";
      else if (!keys.some((k) => k.id === key.id)) plan.blockedBy = "current_key_not_listed";
      else steps.push("create a new key", "verify it", "promote it (the current key becomes previous)", `retire the current key ${rotation.graceMinutes} min later`);
    }
    return plan;
  }

  async status(): Promise<RotationStatus> {
    const { provider, rotation } = this.settings;
    const [journal, key] = await Promise.all([this.loadJournal(), this.loadKey()]);
    const now = this.deps.clock.now();
    return {
      provider,
      mode: "partner-api",
      keyId: key.id,
      keyFingerprint: fingerprint(key.secret),
      ...keyAge(key.createdAt, now, rotation),
      ...(key.previous ? { previousKeyId: key.previous.id, retireAt: iso(key.previous.retireAt) } : {}),
      phase: journal.phase,
      failures: journal.failures,
      needsAttention: journal.needsAttention,
      ...(journal.lastError ? { lastError: journal.lastError } : {}),
    };
  }

  async loadKey(): Promise<StoredKey> {
    return parseStoredKey(await this.deps.secrets.get(this.settings.keySecretName));
  }

  /** A journal left by operator mode (config changed) is ignored: nothing of it applies here. */
  async loadJournal(): Promise<PartnerJournal> {
    const journal = await readJournal(this.deps.secrets, this.settings.keySecretName);
    if (journal?.mode === "partner-api") return journal;
    return { v: 1, mode: "partner-api", phase: "idle", failures: 0, needsAttention: false, updatedAt: iso(this.deps.clock.now()) };
  }

  /** Ids of every key the broker ever promoted (tags of the key secret's versions; values not read). */
  async taggedKeyIds(): Promise<Set<string>> {
    try {
      const versions = await this.deps.secrets.listVersions(this.settings.keySecretName);
      return new Set(versions.map((v) => v.tags[KEY_ID_TAG]).filter((id): id is string => id !== undefined));
    } catch (error) {
      if (error instanceof SecretNotFoundError) return new Set();
      throw error;
    }
  }
}

/** One run under one lease. Holds the last journal state it wrote, which is what failures amend. */
class PartnerRun {
  private journal!: PartnerJournal;
  private key!: StoredKey;
  private readonly actions: string[] = [];
  private readonly writer: LeasedWriter;
  private rotated = false;
  /** Whether a failure of this run counts as a failed rotation attempt (towards needs_attention). */
  private attempting = false;

  constructor(
    private readonly owner: PartnerRotation,
    private readonly lease: LockLease,
  ) {
    this.writer = new LeasedWriter(owner.deps, lease, owner.settings.provider);
  }

  private get provider(): string {
    return this.owner.settings.provider;
  }

  private get deps(): PartnerRotationDeps {
    return this.owner.deps;
  }

  async execute(manual: boolean): Promise<RotationResult> {
    try {
      [this.journal, this.key] = await Promise.all([this.owner.loadJournal(), this.owner.loadKey()]);
    } catch (error) {
      // Nothing is written: a journal that does not parse may still hold a new key's secret.
      return this.result("failed", toBrokerError(error));
    }
    const { rotation } = this.owner.settings;
    const now = this.deps.clock.now();
    const due = now >= this.key.createdAt + rotation.intervalHours * 3_600_000;
    const wantsRotation = manual || (due && !this.journal.needsAttention);
    this.attempting = wantsRotation || ["creating", "created", "verified"].includes(this.journal.phase);
    let outcome: RotationResult["outcome"] = "no_change";
    let reason: string | undefined;
    try {
      if (OPEN_PHASES.includes(this.journal.phase)) await this.step("resume", () => this.resume());
      // The list is authenticated with the current key: it also proves that key works before the
      // previous one (its fallback) is deleted.
      let keys = await this.step("list", () => this.deps.keyApi.list(this.key));
      keys = await this.step("retire", () => this.retireIfDue(keys));
      keys = await this.step("sweep", () => this.sweep(keys));
      if (this.rotated) outcome = "rotated";
      else if (!manual && !due) reason = "not_due";
      else if (!manual && this.journal.needsAttention) [outcome, reason] = ["skipped", "needs_attention"];
      else if (this.key.previous) [outcome, reason] = ["skipped", "previous_pending"];
      else {
        await this.step("rotate", () => this.rotate(keys));
        outcome = "rotated";
      }
    } catch (error) {
      const failure = toBrokerError(error);
      await this.recordFailure(error, failure);
      return this.result(error instanceof KeyLimitReachedError ? "key_limit_reached" : "failed", failure);
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
      const tagged = await this.taggedIds();
      for (const stray of keys.filter((k) => k.name === marker && !this.isProtected(k.id, tagged))) {
        await this.deleteAtPartner(stray.id, "orphan");
      }
    }
    await this.writeJournal({ ...this.journal, phase: "idle", newKey: undefined }, NORMAL_WRITE);
    this.actions.push(`abandoned:${this.journal.rotationId ?? "unknown"}`);
  }

  private async rotate(keys: PartnerKey[]): Promise<void> {
    const { spec } = this.owner.settings;
    if (keys.length >= spec.maxKeys) throw new KeyLimitReachedError(this.provider);
    const current = keys.find((k) => k.id === this.key.id);
    if (!current) {
      // Without its permissions and CIDRs the successor could not do what the current key does.
      throw new BrokerError("upstream_rejected", `The partner does not list the current key of "${this.provider}"; rotation needs it to copy its settings.`);
    }
    const copied: Record<string, unknown> = {};
    for (const field of spec.copyFromCurrent) {
      if (current.fields[field] !== undefined && current.fields[field] !== null) copied[field] = current.fields[field];
    }
    const rotationId = this.deps.newRotationId();
    const markerName = this.owner.marker + rotationId;
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
      if (!(error instanceof LeaseLostError)) {
        await this.deleteAtPartner(created.id, "unrecorded").catch((cleanup: unknown) => this.logCleanupFailure(cleanup));
      }
      throw error;
    }
    await this.continueWithNewKey(created);
  }

  /** From "created"/"verified": verify, promote, close. Also the resume path. */
  private async continueWithNewKey(newKey: KeyCredential): Promise<void> {
    if (this.key.id === newKey.id) return this.finishPromoted(); // the promote committed before a crash
    const { attempts, delayMs } = this.owner.settings.rotation.verify;
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
      const kept = this.isProtected(newKey.id, await this.taggedIds(), false);
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
      previous: { id: old.id, secret: old.secret, retireAt: now + this.owner.settings.rotation.graceMinutes * 60_000 },
    };
    const written = await this.writer.write(this.owner.settings.keySecretName, serializeStoredKey(next), this.keyTags(next), CRITICAL_WRITE);
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
    if (!previous) return keys;
    const resuming = this.journal.phase === "retiring" && this.journal.retireKeyId === previous.id;
    if (!resuming && previous.retireAt > this.deps.clock.now()) return keys;
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
    const written = await this.writer.write(this.owner.settings.keySecretName, serializeStoredKey(next), this.keyTags(next), NORMAL_WRITE);
    this.key = { ...next, version: written.version };
    this.actions.push(`retired:${previous.id}`);
    return keys.filter((k) => k.id !== previous.id);
  }

  /** Deletes broker-marked keys of this provider that nothing refers to; other keys are never touched. */
  private async sweep(keys: PartnerKey[]): Promise<PartnerKey[]> {
    const tagged = await this.taggedIds();
    const orphans = keys.filter((k) => isOwnOrphan(k, this.owner.marker, protectedIds(this.key, this.journal, tagged)));
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
    const code = error instanceof KeyLimitReachedError ? "key_limit_reached" : failure.code;
    this.deps.logger.log("error", "rotation_failed", {
      provider: this.provider,
      phase: this.journal.phase,
      rotation_id: this.journal.rotationId,
      code,
      ...errorFields(error),
    });
    if (error instanceof LeaseLostError) return; // someone else owns the journal now
    const counts = this.attempting;
    const failures = this.journal.failures + (counts ? 1 : 0);
    const maxFailures = this.owner.settings.rotation.maxFailures;
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
    await this.writer.write(this.owner.journalName, JSON.stringify(value), { purpose: "rotation-journal", provider: this.provider }, retry);
    this.journal = value;
  }

  private keyTags(key: Omit<StoredKey, "version">): Record<string, string> {
    return { [KEY_ID_TAG]: key.id, "managed-by": "token-broker", ...(key.rotationId ? { rotationId: key.rotationId } : {}) };
  }

  /** Read afresh each time: a key secret version written since the run began must protect its key. */
  private async taggedIds(): Promise<Set<string>> {
    return this.owner.taggedKeyIds();
  }

  /**
   * Whether a key must not be deleted. The tags are checked on their own: leaving out the in-flight
   * key (its own rejection) must not also drop the protection a key secret version gives it.
   */
  private isProtected(id: string, tagged: Set<string>, includeInFlight = true): boolean {
    if (tagged.has(id) || id === this.key.id || id === this.key.previous?.id) return true;
    return includeInFlight && id === this.journal.newKey?.id;
  }

  private async ensureHeld(): Promise<void> {
    if (!(await this.lease.stillHeld())) throw new LeaseLostError(this.provider);
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
      ...(failure ? { error: { code: failure.code, detail: failure.detail } } : {}),
    };
  }
}

/** Keys that must never be swept: current, previous, the journal's in-flight key, any ever promoted. */
function protectedIds(key: StoredKey, journal: PartnerJournal, tagged: Set<string>): Set<string> {
  const ids = new Set(tagged);
  ids.add(key.id);
  if (key.previous) ids.add(key.previous.id);
  if (journal.newKey) ids.add(journal.newKey.id);
  return ids;
}

function isOwnOrphan(key: PartnerKey, marker: string, protectedSet: Set<string>): boolean {
  return key.name?.startsWith(marker) === true && !protectedSet.has(key.id);
}
