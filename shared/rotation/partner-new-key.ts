import { iso } from "../clock.js";
import { BrokerError } from "../errors/broker-error.js";
import { isConflict } from "../errors/conflict-error.js";
import { fingerprint } from "../log/fingerprint.js";
import { errorFields } from "../log/logger.js";
import { KeyLimitReachedError, type KeyCredential, type PartnerKey } from "./key-api.js";
import { CRITICAL_WRITE, NORMAL_WRITE } from "./leased-writer.js";
import { protectedKeyIds } from "./partner-decisions.js";
import type { PartnerReads, PartnerRotationDeps, PartnerRunSettings, PartnerRunState } from "./partner-run-state.js";
import type { StoredKey } from "./stored-key.js";

/** The new key never worked at the partner within the verify attempts; deleted unless a key secret version holds it. */
export class NewKeyRejectedError extends BrokerError {
  constructor(provider: string, attempts: number, kept = false) {
    const fate = kept ? "it was kept because a version of the key secret holds it" : "it was deleted";
    super("upstream_rejected", `The new key of "${provider}" was not accepted by the partner after ${attempts} verification attempt(s); ${fate} and the current key stays in use.`);
  }
}

/**
 * The life of one new key within a run, journal phase by phase: "creating" (the create, named with
 * the marker), "created" (the only copy of its secret), "verified", the promote, "done"; and the
 * undoing of a create whose outcome is unknown. Also where a resumed run continues such a key.
 */
export class NewKeySteps {
  /** Whether this run promoted a new key and closed the journal. */
  promoted = false;

  constructor(
    private readonly settings: PartnerRunSettings,
    private readonly deps: PartnerRotationDeps,
    private readonly reads: PartnerReads,
    private readonly state: PartnerRunState,
  ) {}

  private get provider(): string {
    return this.settings.provider;
  }

  async rotate(keys: PartnerKey[], verdict: "rotate" | "key_limit_reached" | "current_key_not_listed"): Promise<void> {
    const { spec } = this.settings;
    const { key, journal } = this.state;
    if (verdict === "key_limit_reached") throw new KeyLimitReachedError(this.provider);
    const current = keys.find((k) => k.id === key.id);
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
    await this.state.writeJournal(
      {
        v: 1,
        mode: "partner-api",
        phase: "creating",
        rotationId,
        markerName,
        oldKeyId: key.id,
        failures: journal.failures,
        needsAttention: journal.needsAttention,
        lastError: journal.lastError,
        lastRotatedAt: journal.lastRotatedAt,
        updatedAt: iso(this.deps.clock.now()),
      },
      NORMAL_WRITE,
    );
    this.deps.logger.log("info", "rotation_started", { provider: this.provider, rotation_id: rotationId, old_key_id: key.id });
    this.state.actions.push(`started:${rotationId}`);
    await this.state.ensureHeld();
    let created: KeyCredential;
    try {
      created = await this.state.step("create", () => this.deps.keyApi.create(key, { ...copied, [spec.fields.name]: markerName }));
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
      await this.state.writeJournal({ ...this.state.journal, phase: "created", newKey: created }, CRITICAL_WRITE);
    } catch (error) {
      // The secret exists only in memory and cannot be kept: delete the key rather than leave it
      // unaccounted for (the journal still says "creating", so the next run would find it anyway).
      if (!isConflict(error, "lease_lost")) {
        await this.state.deleteAtPartner(created.id, "unrecorded").catch((cleanup: unknown) => this.logCleanupFailure(cleanup));
      }
      throw error;
    }
    await this.continueWith(created);
  }

  /** The create may or may not have happened: delete whatever carries this attempt's marker. */
  async abandonCreate(): Promise<void> {
    const marker = this.state.journal.markerName;
    if (marker !== undefined) {
      const keys = await this.deps.keyApi.list(this.state.key);
      const keep = protectedKeyIds(this.state.key, this.state.journal, await this.reads.taggedKeyIds());
      for (const stray of keys.filter((k) => k.name === marker && !keep.has(k.id))) {
        await this.state.deleteAtPartner(stray.id, "orphan");
      }
    }
    await this.state.writeJournal({ ...this.state.journal, phase: "idle", newKey: undefined }, NORMAL_WRITE);
    this.state.actions.push(`abandoned:${this.state.journal.rotationId ?? "unknown"}`);
  }

  /** From "created"/"verified": verify, promote, close. Also the resume path. */
  async continueWith(newKey: KeyCredential): Promise<void> {
    if (this.state.key.id === newKey.id) return this.finishPromoted(); // the promote committed before a crash
    const { attempts, delayMs } = this.settings.rotation.verify;
    let valid = false;
    for (let attempt = 1; attempt <= attempts && !valid; attempt++) {
      if (attempt > 1) await this.deps.sleeper.sleep(delayMs);
      // The lease is not renewed: once it is lost a successor resumes this journal, so stop here.
      await this.state.ensureHeld();
      // Transient partner errors throw: the journal keeps the key and the next run verifies again.
      valid = (await this.state.step("verify", () => this.deps.keyApi.verify(newKey))) === "valid";
    }
    if (!valid) {
      // Never delete a key that some key secret version holds (a promote that did commit, then the
      // key secret was rolled back): the tags are read now, not taken from earlier in the run.
      const kept = protectedKeyIds(this.state.key, this.state.journal, await this.reads.taggedKeyIds(), { inFlight: false }).has(newKey.id);
      if (!kept) await this.state.deleteAtPartner(newKey.id, "rejected");
      else this.deps.logger.log("warn", "rotation_rejected_key_kept", { provider: this.provider, key_id: newKey.id });
      await this.state.writeJournal({ ...this.state.journal, phase: "idle", newKey: undefined }, NORMAL_WRITE);
      throw new NewKeyRejectedError(this.provider, attempts, kept);
    }
    const journal = this.state.journal;
    this.deps.logger.log("info", "rotation_verified", { provider: this.provider, rotation_id: journal.rotationId, new_key_id: newKey.id });
    if (journal.phase !== "verified") await this.state.writeJournal({ ...journal, phase: "verified" }, NORMAL_WRITE);
    await this.state.step("promote", () => this.promote(newKey));
    await this.state.step("finish", () => this.finishPromoted());
  }

  private async promote(newKey: KeyCredential): Promise<void> {
    const now = this.deps.clock.now();
    const old = this.state.key;
    const rotationId = this.state.journal.rotationId;
    if (old.previous && old.previous.id !== newKey.id) {
      this.deps.logger.log("warn", "rotation_previous_dropped", { provider: this.provider, key_id: old.previous.id });
    }
    const next: Omit<StoredKey, "version"> = {
      id: newKey.id,
      secret: newKey.secret,
      createdAt: now,
      ...(rotationId === undefined ? {} : { rotationId }),
      previous: { id: old.id, secret: old.secret, retireAt: now + this.settings.rotation.graceMinutes * 60_000 },
    };
    const version = await this.state.writeKey(next, CRITICAL_WRITE);
    this.deps.logger.log("info", "rotation_promoted", {
      provider: this.provider,
      rotation_id: rotationId,
      key_id: newKey.id,
      key_fingerprint: fingerprint(newKey.secret),
      previous_key_id: old.id,
      version,
    });
  }

  private async finishPromoted(): Promise<void> {
    try {
      await this.deps.onPromoted(this.provider);
    } catch (error) {
      // The cache keys on the secret version, so it converges anyway; this only speeds that up.
      this.deps.logger.log("warn", "rotation_cache_drop_failed", { provider: this.provider, ...errorFields(error) });
    }
    const key = this.state.key;
    const previous = key.previous;
    const now = iso(this.deps.clock.now());
    await this.state.writeJournal(
      {
        v: 1,
        mode: "partner-api",
        phase: "done",
        rotationId: this.state.journal.rotationId ?? key.rotationId,
        newKeyId: key.id,
        oldKeyId: previous?.id,
        retireAt: previous ? iso(previous.retireAt) : undefined,
        failures: 0,
        needsAttention: false,
        lastRotatedAt: now,
        updatedAt: now,
      },
      NORMAL_WRITE,
    );
    this.promoted = true;
    this.state.actions.push(`rotated:${key.id}`);
    this.deps.logger.log("info", "rotation_done", { provider: this.provider, rotation_id: this.state.journal.rotationId, key_id: key.id });
  }

  private logCleanupFailure(error: unknown): void {
    this.deps.logger.log("warn", "rotation_cleanup_deferred", { provider: this.provider, ...errorFields(error) });
  }
}
