import { iso } from "../clock.js";
import type { RotationConfig } from "../config/rotation-schema.js";
import type { ApiKeyProviderConfig } from "../config/api-key-schema.js";
import { type BrokerError, toBrokerError } from "../errors/broker-error.js";
import { ConflictError, isConflict } from "../errors/conflict-error.js";
import { fingerprint } from "../log/fingerprint.js";
import { errorFields } from "../log/logger.js";
import type { SecretVersion } from "../secrets/secret-store.js";
import { OPEN_PHASES, journalSecretName, readJournal, withFailure, type OperatorJournal, type PartnerPhase } from "./journal.js";
import { LeasedWriter, NORMAL_WRITE } from "./leased-writer.js";
import type { LockLease } from "./lock.js";
import { OperatorProbe, ProbeRejectedError } from "./operator-probe.js";
import { rotationFailure, type RotationPlan, type RotationResult, type RotationStatus } from "./rotation-types.js";
import { parseStoredKey } from "./stored-key.js";
import { keyAge } from "./key-age.js";
import type { PartnerPlatform } from "../platform.js";
import { dueAt, isDue } from "./schedule.js";

export interface OperatorRotationSettings {
  provider: string;
  config: ApiKeyProviderConfig;
  rotation: RotationConfig;
}

export interface OperatorRotationDeps extends PartnerPlatform {
  onPromoted(provider: string): Promise<void>;
}

/**
 * The journal holds an unfinished partner-api rotation (the provider was switched to operator mode
 * meanwhile). Operator mode would overwrite it, losing what it holds: in "created"/"verified" the
 * only copy of a new partner key's secret, in "creating"/"retiring" the key left to delete.
 */
export class PartnerJournalOpenError extends ConflictError {
  constructor(provider: string, phase: PartnerPhase) {
    super(
      "journal_open",
      `The rotation journal of "${provider}" holds an unfinished partner-api rotation (phase "${phase}"); operator rotation will not overwrite it. Set rotation.mode back to "partner-api" until a run finishes it, then switch.`,
    );
  }
}

/**
 * Operator-managed rotation (PhixFlow): a person writes a new version of the key secret. With a
 * probe configured the version is tried against the partner first (operator-probe.ts) and only then
 * accepted (the journal pins it, see journal.ts acceptedVersion); a version that fails keeps the
 * previous one in service. Without a probe the latest version is in service at once and this only
 * records it.
 */
export class OperatorRotation {
  private readonly probe: OperatorProbe;

  constructor(
    readonly settings: OperatorRotationSettings,
    readonly deps: OperatorRotationDeps,
  ) {
    this.probe = new OperatorProbe(settings.provider, settings.config, deps);
  }

  private get journalName(): string {
    return journalSecretName(this.settings.config.key.secret);
  }

  async run(lease: LockLease, options: { manual: boolean }): Promise<RotationResult> {
    const { provider, config } = this.settings;
    const writer = new LeasedWriter(this.deps, lease, provider);
    const pinned = config.probe !== undefined;
    let journal: OperatorJournal;
    let latest: SecretVersion;
    try {
      [journal, latest] = await Promise.all([this.loadJournal(), this.deps.secrets.get(config.key.secret)]);
    } catch (error) {
      return this.result("failed", [], undefined, toBrokerError(error));
    }
    const write = async (next: OperatorJournal) => {
      const value: OperatorJournal = { ...next, updatedAt: iso(this.deps.clock.now()), fencingToken: lease.fencingToken };
      await writer.write(this.journalName, JSON.stringify(value), { purpose: "rotation-journal", provider }, NORMAL_WRITE);
      journal = value;
    };
    if (latest.version === journal.acceptedVersion && journal.pinned === pinned) {
      return this.result("no_change", [], journal);
    }
    if (!options.manual && journal.needsAttention && latest.version === journal.rejectedVersion) {
      return { ...this.result("skipped", [], journal), reason: "needs_attention" };
    }
    const actions: string[] = [];
    try {
      if (pinned) {
        await this.probe.check(latest);
        actions.push(`probed:${latest.version}`);
      }
      const changed = journal.acceptedVersion !== undefined && journal.acceptedVersion !== latest.version;
      await write({
        v: 1,
        mode: "operator",
        acceptedVersion: latest.version,
        acceptedAt: iso(this.deps.clock.now()),
        pinned,
        failures: 0,
        needsAttention: false,
        updatedAt: iso(this.deps.clock.now()),
      });
      actions.push(`accepted:${latest.version}`);
      this.deps.logger.log("info", "rotation_version_accepted", { provider, version: latest.version, probed: pinned });
      // After the journal write: a pinned source switches on the journal, so caches drop only then.
      if (changed) await this.deps.onPromoted(provider).catch((error: unknown) => this.logCacheDropFailure(error));
      return this.result("accepted", actions, journal);
    } catch (error) {
      const failure = toBrokerError(error);
      const lastError = { code: failure.code, detail: failure.detail, at: iso(this.deps.clock.now()) };
      const next = withFailure({ ...journal, rejectedVersion: latest.version }, lastError, true, this.settings.rotation.maxFailures);
      this.deps.logger.log("error", "rotation_version_rejected", { provider, version: latest.version, failures: next.failures, ...errorFields(error) });
      await write(next).catch((writeError: unknown) =>
        this.deps.logger.log("error", "rotation_failure_not_recorded", { provider, ...errorFields(writeError) }),
      );
      const outcome = error instanceof ProbeRejectedError ? "rejected" : "failed";
      return this.result(outcome, actions, next, failure);
    }
  }

  async plan(manual: boolean): Promise<RotationPlan> {
    const { provider, config, rotation } = this.settings;
    const [journal, latest] = await Promise.all([this.loadJournal(), this.deps.secrets.get(config.key.secret)]);
    const served = await this.servedVersion(journal, latest);
    const steps: string[] = [];
    const plan: RotationPlan = {
      provider,
      mode: "operator",
      keyCreatedAt: iso(served.createdOn),
      nextDueAt: iso(dueAt(served.createdOn, rotation)),
      due: isDue(served.createdOn, this.deps.clock.now(), rotation),
      steps,
    };
    if (latest.version !== journal.acceptedVersion) {
      plan.pendingVersion = latest.version;
      if (!manual && journal.needsAttention && latest.version === journal.rejectedVersion) plan.blockedBy = "needs_attention";
      else {
        if (config.probe) steps.push(`probe version ${latest.version}`);
        steps.push(`accept version ${latest.version}`);
      }
    }
    return plan;
  }

  async status(): Promise<RotationStatus> {
    const { provider, config, rotation } = this.settings;
    const [loaded, latest] = await Promise.all([
      this.loadJournal().catch((error: unknown) => {
        if (isConflict(error, "journal_open")) return error;
        throw error;
      }),
      this.deps.secrets.get(config.key.secret),
    ]);
    const now = this.deps.clock.now();
    const served = (version: SecretVersion) => ({ ...this.identify(version), ...keyAge(version.createdOn, now, rotation) });
    if (loaded instanceof ConflictError) {
      // Nothing is pinned by a partner journal: the latest version is the one served.
      return {
        provider,
        mode: "operator",
        ...served(latest),
        phase: "blocked_by_partner_journal",
        failures: 0,
        needsAttention: true,
        lastError: { code: loaded.code, detail: loaded.detail, at: iso(now) },
      };
    }
    const journal = loaded;
    const phase =
      latest.version === journal.acceptedVersion ? "accepted" : latest.version === journal.rejectedVersion ? "rejected" : "pending";
    return {
      provider,
      mode: "operator",
      ...served(await this.servedVersion(journal, latest)),
      phase,
      failures: journal.failures,
      needsAttention: journal.needsAttention,
      ...(journal.acceptedVersion === undefined ? {} : { acceptedVersion: journal.acceptedVersion }),
      ...(phase === "accepted" ? {} : { pendingVersion: latest.version }),
      ...(journal.lastError ? { lastError: journal.lastError } : {}),
    };
  }

  /** Throws PartnerJournalOpenError rather than let a run overwrite an open partner-api journal. */
  private async loadJournal(): Promise<OperatorJournal> {
    const journal = await readJournal(this.deps.secrets, this.settings.config.key.secret);
    if (journal?.mode === "operator") return journal;
    if (journal?.mode === "partner-api" && OPEN_PHASES.includes(journal.phase)) throw new PartnerJournalOpenError(this.settings.provider, journal.phase);
    return { v: 1, mode: "operator", pinned: false, failures: 0, needsAttention: false, updatedAt: iso(this.deps.clock.now()) };
  }

  /** The version the api-key source serves now (the pinned accepted one, else the latest). */
  private async servedVersion(journal: OperatorJournal, latest: SecretVersion): Promise<SecretVersion> {
    if (!journal.pinned || journal.acceptedVersion === undefined || journal.acceptedVersion === latest.version) return latest;
    return this.deps.secrets.get(this.settings.config.key.secret, journal.acceptedVersion);
  }

  /** The key id (Basic keys only) and fingerprint of a version, in the order the status lists them. */
  private identify(version: SecretVersion): { keyId?: string; keyFingerprint: string } {
    if (this.settings.config.scheme !== "basic") return { keyFingerprint: fingerprint(version.value) };
    try {
      const key = parseStoredKey(version);
      return { keyId: key.id, keyFingerprint: fingerprint(key.secret) };
    } catch {
      return { keyFingerprint: fingerprint(version.value) };
    }
  }

  private logCacheDropFailure(error: unknown): void {
    this.deps.logger.log("warn", "rotation_cache_drop_failed", { provider: this.settings.provider, ...errorFields(error) });
  }

  private result(outcome: RotationResult["outcome"], actions: string[], journal?: OperatorJournal, failure?: BrokerError): RotationResult {
    return {
      provider: this.settings.provider,
      mode: "operator",
      outcome,
      actions,
      ...(journal?.acceptedVersion === undefined ? {} : { acceptedVersion: journal.acceptedVersion }),
      ...(failure ? { error: rotationFailure(failure) } : {}),
    };
  }
}
