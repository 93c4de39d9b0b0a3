import { iso } from "../clock.js";
import type { RotationConfig } from "../config/rotation-schema.js";
import type { ApiKeyProviderConfig } from "../config/api-key-schema.js";
import { BrokerError, toBrokerError } from "../errors/broker-error.js";
import { discardBody } from "../http/bounded-body.js";
import { fingerprint } from "../log/fingerprint.js";
import { errorFields } from "../log/logger.js";
import { assertHeaderValue, resolveHeaders } from "../providers/headers.js";
import type { SecretVersion } from "../secrets/secret-store.js";
import { UpstreamCaller } from "../upstream/upstream-caller.js";
import { UpstreamFailure, parseRetryAfter } from "../upstream/upstream-failure.js";
import { basicHeader } from "./key-api.js";
import { OPEN_PHASES, journalSecretName, readJournal, type OperatorJournal, type PartnerPhase } from "./journal.js";
import { LeasedWriter, NORMAL_WRITE } from "./leased-writer.js";
import type { LockLease } from "./lock.js";
import type { RotationPlan, RotationResult, RotationStatus } from "./rotation-types.js";
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

/** The newest version failed the provider's probe; the previously accepted one stays in use. */
export class ProbeRejectedError extends BrokerError {
  constructor(provider: string, version: string, why: string) {
    super("upstream_rejected", `Version ${version} of the key of "${provider}" was not accepted (${why}); the previous version stays in use.`);
  }
}

/**
 * The journal holds an unfinished partner-api rotation (the provider was switched to operator mode
 * meanwhile). Operator mode would overwrite it, losing what it holds: in "created"/"verified" the
 * only copy of a new partner key's secret, in "creating"/"retiring" the key left to delete.
 */
export class PartnerJournalOpenError extends BrokerError {
  constructor(provider: string, phase: PartnerPhase) {
    super(
      "conflict",
      `The rotation journal of "${provider}" holds an unfinished partner-api rotation (phase "${phase}"); operator rotation will not overwrite it. Set rotation.mode back to "partner-api" until a run finishes it, then switch.`,
    );
  }
}

/**
 * Operator-managed rotation (PhixFlow): a person writes a new version of the key secret. With a
 * probe configured the version is tried against the partner first and only then accepted (the
 * journal pins it, see journal.ts acceptedVersion); a version that fails keeps the previous one in
 * service. Without a probe the latest version is in service at once and this only records it.
 */
export class OperatorRotation {
  private readonly probeCaller: UpstreamCaller;

  constructor(
    readonly settings: OperatorRotationSettings,
    readonly deps: OperatorRotationDeps,
  ) {
    this.probeCaller = new UpstreamCaller(settings.provider, settings.config.upstream, deps);
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
        await this.probe(latest);
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
      const failures = journal.failures + 1;
      const next: OperatorJournal = {
        ...journal,
        rejectedVersion: latest.version,
        failures,
        needsAttention: journal.needsAttention || failures >= this.settings.rotation.maxFailures,
        lastError: { code: failure.code, detail: failure.detail, at: iso(this.deps.clock.now()) },
      };
      this.deps.logger.log("error", "rotation_version_rejected", { provider, version: latest.version, failures, ...errorFields(error) });
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
        if (error instanceof PartnerJournalOpenError) return error;
        throw error;
      }),
      this.deps.secrets.get(config.key.secret),
    ]);
    const now = this.deps.clock.now();
    if (loaded instanceof PartnerJournalOpenError) {
      // Nothing is pinned by a partner journal: the latest version is the one served.
      const identity = this.identify(latest);
      return {
        provider,
        mode: "operator",
        ...(identity.keyId === undefined ? {} : { keyId: identity.keyId }),
        keyFingerprint: identity.keyFingerprint,
        ...keyAge(latest.createdOn, now, rotation),
        phase: "blocked_by_partner_journal",
        failures: 0,
        needsAttention: true,
        lastError: { code: loaded.code, detail: loaded.detail, at: iso(now) },
      };
    }
    const journal = loaded;
    const served = await this.servedVersion(journal, latest);
    const identity = this.identify(served);
    const phase =
      latest.version === journal.acceptedVersion ? "accepted" : latest.version === journal.rejectedVersion ? "rejected" : "pending";
    return {
      provider,
      mode: "operator",
      ...(identity.keyId === undefined ? {} : { keyId: identity.keyId }),
      keyFingerprint: identity.keyFingerprint,
      ...keyAge(served.createdOn, now, rotation),
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

  private identify(version: SecretVersion): { keyId?: string; keyFingerprint: string } {
    if (this.settings.config.scheme !== "basic") return { keyFingerprint: fingerprint(version.value) };
    try {
      const key = parseStoredKey(version);
      return { keyId: key.id, keyFingerprint: fingerprint(key.secret) };
    } catch {
      return { keyFingerprint: fingerprint(version.value) };
    }
  }

  /** Sends the provider's probe with the credential built from this version; throws unless accepted. */
  private async probe(version: SecretVersion): Promise<void> {
    const { provider, config } = this.settings;
    const probe = config.probe;
    if (!probe) return;
    // A failing store surfaces as itself; only a value that cannot form a credential rejects the version.
    const extra = await resolveHeaders(config.headers, this.deps.secrets);
    let credential: Record<string, string>;
    try {
      credential =
        config.scheme === "basic"
          ? { Authorization: basicHeader(parseStoredKey(version)) }
          : { [config.header]: assertHeaderValue(`${config.prefix}${version.value}`, config.header) };
    } catch {
      throw new ProbeRejectedError(provider, version.version, "the value is not a usable credential");
    }
    const headers = { ...extra.headers, ...credential };
    const status = await this.probeCaller.run(async (signal) => {
      const response = await this.deps.fetch(probe.url, { method: probe.method, headers, signal });
      await discardBody(response, config.upstream.maxResponseBytes);
      if (response.status === 429 || response.status >= 500) {
        const retryAfterSec = parseRetryAfter(response.headers.get("retry-after"), this.deps.clock.now());
        throw new UpstreamFailure("transient", `HTTP ${response.status}`, { status: response.status, retryAfterSec });
      }
      return response.status;
    });
    if (!probe.expectStatus.includes(status)) throw new ProbeRejectedError(provider, version.version, `probe answered HTTP ${status}`);
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
      ...(failure ? { error: { code: failure.code, detail: failure.detail } } : {}),
    };
  }
}
