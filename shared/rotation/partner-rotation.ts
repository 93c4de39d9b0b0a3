import { iso } from "../clock.js";
import { fingerprint } from "../log/fingerprint.js";
import { SecretNotFoundError } from "../secrets/secret-store.js";
import { PartnerKeyApi } from "./key-api.js";
import { OPEN_PHASES, journalSecretName, readJournal, type PartnerJournal } from "./journal.js";
import { keyAge } from "./key-age.js";
import type { LockLease } from "./lock.js";
import { mustRetirePrevious, ownOrphans, protectedKeyIds, rotationVerdict } from "./partner-decisions.js";
import { PartnerRun } from "./partner-run.js";
import type { PartnerReads, PartnerRotationDeps, PartnerRotationSettings, PartnerRunSettings } from "./partner-run-state.js";
import type { RotationPlan, RotationResult, RotationStatus } from "./rotation-types.js";
import { dueAt, isDue } from "./schedule.js";
import { KEY_ID_TAG, parseStoredKey, type StoredKey } from "./stored-key.js";

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
export class PartnerRotation implements PartnerReads {
  private readonly runSettings: PartnerRunSettings;

  constructor(
    readonly settings: PartnerRotationSettings,
    private readonly deps: PartnerRotationDeps,
  ) {
    this.runSettings = {
      ...settings,
      journalName: journalSecretName(settings.keySecretName),
      marker: PartnerKeyApi.markerPrefix(settings.rotation.keyNamePrefix, settings.provider),
    };
  }

  async run(lease: LockLease, options: { manual: boolean }): Promise<RotationResult> {
    return new PartnerRun(this.runSettings, this.deps, this, lease).execute(options.manual);
  }

  /**
   * What a run would do, from reads only (the key list is a GET): no lock, no write, no
   * create/delete. The same decisions as the run (partner-decisions.ts), over the same observations.
   */
  async plan(manual: boolean): Promise<RotationPlan> {
    const { provider, rotation, spec } = this.settings;
    const [journal, key] = await Promise.all([this.loadJournal(), this.loadKey()]);
    const now = this.deps.clock.now();
    const due = isDue(key.createdAt, now, rotation);
    const steps: string[] = [];
    const plan: RotationPlan = {
      provider,
      mode: "partner-api",
      currentKeyId: key.id,
      keyCreatedAt: iso(key.createdAt),
      nextDueAt: iso(dueAt(key.createdAt, rotation)),
      due,
      steps,
    };
    if (OPEN_PHASES.includes(journal.phase)) {
      plan.openPhase = journal.phase;
      steps.push(`resume the interrupted run from phase "${journal.phase}"`);
    }
    const keys = await this.deps.keyApi.list(key);
    const tagged = await this.taggedKeyIds();
    let keysLeft = keys.length;
    const retire = mustRetirePrevious(key, journal, now);
    if (retire && key.previous) {
      steps.push(`retire previous key ${key.previous.id}`);
      if (keys.some((k) => k.id === key.previous?.id)) keysLeft--;
    }
    const inUse = protectedKeyIds(key, journal, tagged);
    const orphans = ownOrphans(keys, this.runSettings.marker, inUse);
    plan.ownOrphans = orphans.map((k) => k.id);
    // Foreign: keys this broker neither uses nor created. The current and previous keys may carry
    // no marker (the first key is made by a person) but are the broker's to rotate and retire.
    plan.foreignKeys = keys.filter((k) => !k.name?.startsWith(this.runSettings.marker) && !inUse.has(k.id)).length;
    plan.keysAtPartner = keys.length;
    plan.maxKeys = spec.maxKeys;
    if (orphans.length) steps.push(`delete ${orphans.length} orphaned broker key(s)`);
    keysLeft -= orphans.length;
    const verdict = rotationVerdict({
      manual,
      due,
      needsAttention: journal.needsAttention,
      previousPending: key.previous !== undefined && !retire,
      keysLeft,
      maxKeys: spec.maxKeys,
      currentListed: keys.some((k) => k.id === key.id),
    });
    if (verdict === "rotate") {
      steps.push("create a new key", "verify it", "promote it (the current key becomes previous)", `retire the current key ${rotation.graceMinutes} min later`);
    } else if (verdict !== "not_due") {
      plan.blockedBy = verdict;
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
