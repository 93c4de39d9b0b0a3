import { toBrokerError } from "../errors/broker-error.js";
import { isConflict } from "../errors/conflict-error.js";
import type { PartnerKey } from "./key-api.js";
import { OPEN_PHASES, type PartnerJournal } from "./journal.js";
import { NORMAL_WRITE } from "./leased-writer.js";
import type { LockLease } from "./lock.js";
import { NewKeySteps } from "./partner-new-key.js";
import { mustRetirePrevious, ownOrphans, protectedKeyIds, rotationVerdict, wantsRotation } from "./partner-decisions.js";
import { type PartnerReads, type PartnerRotationDeps, PartnerRunState, type PartnerRunSettings } from "./partner-run-state.js";
import type { RotationResult } from "./rotation-types.js";
import { isDue } from "./schedule.js";
import type { StoredKey } from "./stored-key.js";

/**
 * One run under one lease, in the order that makes a crash at any point recoverable (see
 * PartnerRotation): resume an interrupted run, retire the previous key, sweep orphans, rotate. The
 * new key's own steps are NewKeySteps; what the run wrote last and its writes, its PartnerRunState;
 * the decisions, partner-decisions.ts.
 */
export class PartnerRun {
  private readonly state: PartnerRunState;
  private readonly newKey: NewKeySteps;
  /** Whether a failure of this run counts as a failed rotation attempt (towards needs_attention). */
  private attempting = false;

  constructor(
    private readonly settings: PartnerRunSettings,
    private readonly deps: PartnerRotationDeps,
    private readonly reads: PartnerReads,
    lease: LockLease,
  ) {
    this.state = new PartnerRunState(settings, deps, lease);
    this.newKey = new NewKeySteps(settings, deps, reads, this.state);
  }

  private get journal(): PartnerJournal {
    return this.state.journal;
  }

  private get key(): StoredKey {
    return this.state.key;
  }

  async execute(manual: boolean): Promise<RotationResult> {
    try {
      await this.state.load(this.reads);
    } catch (error) {
      // Nothing is written: a journal that does not parse may still hold a new key's secret.
      return this.state.result("failed", toBrokerError(error));
    }
    const { rotation, spec } = this.settings;
    const due = isDue(this.key.createdAt, this.deps.clock.now(), rotation);
    this.attempting = wantsRotation(manual, due, this.journal) || ["creating", "created", "verified"].includes(this.journal.phase);
    let outcome: RotationResult["outcome"] = "no_change";
    let reason: string | undefined;
    try {
      if (OPEN_PHASES.includes(this.journal.phase)) await this.state.step("resume", () => this.resume());
      // The list is authenticated with the current key: it also proves that key works before the
      // previous one (its fallback) is deleted.
      let keys = await this.state.step("list", () => this.deps.keyApi.list(this.key));
      keys = await this.state.step("retire", () => this.retireIfDue(keys));
      keys = await this.state.step("sweep", () => this.sweep(keys));
      const verdict = this.newKey.promoted
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
        await this.state.step("rotate", () => this.newKey.rotate(keys, verdict));
        outcome = "rotated";
      }
    } catch (error) {
      const failure = toBrokerError(error);
      await this.state.recordFailure(error, failure, this.attempting);
      return this.state.result(isConflict(failure, "key_limit_reached") ? "key_limit_reached" : "failed", failure);
    }
    const result = this.state.result(outcome);
    if (reason !== undefined) result.reason = reason;
    return result;
  }

  private async resume(): Promise<void> {
    const phase = this.journal.phase;
    this.state.actions.push(`resumed:${phase}`);
    this.deps.logger.log("info", "rotation_resumed", { provider: this.settings.provider, phase, rotation_id: this.journal.rotationId });
    if (phase === "creating") return this.newKey.abandonCreate();
    if (phase === "created" || phase === "verified") {
      if (!this.journal.newKey) return this.newKey.abandonCreate();
      return this.newKey.continueWith(this.journal.newKey);
    }
    if (phase === "retiring" && this.key.previous?.id !== this.journal.retireKeyId) {
      // The key secret was already rewritten without the retired key: only the journal lags.
      await this.state.writeJournal({ ...this.journal, phase: "retired", retireKeyId: undefined }, NORMAL_WRITE);
    }
    // "retiring" with the previous key still present is finished by retireIfDue.
  }

  private async retireIfDue(keys: PartnerKey[]): Promise<PartnerKey[]> {
    const previous = this.key.previous;
    if (!previous || !mustRetirePrevious(this.key, this.journal, this.deps.clock.now())) return keys;
    const resuming = this.journal.phase === "retiring" && this.journal.retireKeyId === previous.id;
    if (previous.id !== this.key.id) {
      if (!resuming) await this.state.writeJournal({ ...this.journal, phase: "retiring", retireKeyId: previous.id }, NORMAL_WRITE);
      await this.state.deleteAtPartner(previous.id, "retired");
      await this.state.writeJournal({ ...this.journal, phase: "retired", retireKeyId: undefined }, NORMAL_WRITE);
    }
    const next: Omit<StoredKey, "version"> = {
      id: this.key.id,
      secret: this.key.secret,
      createdAt: this.key.createdAt,
      ...(this.key.rotationId === undefined ? {} : { rotationId: this.key.rotationId }),
    };
    await this.state.writeKey(next, NORMAL_WRITE);
    this.state.actions.push(`retired:${previous.id}`);
    return keys.filter((k) => k.id !== previous.id);
  }

  /** Deletes broker-marked keys of this provider that nothing refers to; other keys are never touched. */
  private async sweep(keys: PartnerKey[]): Promise<PartnerKey[]> {
    const orphans = ownOrphans(keys, this.settings.marker, protectedKeyIds(this.key, this.journal, await this.reads.taggedKeyIds()));
    if (orphans.length === 0) return keys;
    const ids = orphans.map((k) => k.id);
    await this.state.writeJournal({ ...this.journal, sweeping: ids }, NORMAL_WRITE);
    for (const id of ids) await this.state.deleteAtPartner(id, "orphan");
    await this.state.writeJournal({ ...this.journal, sweeping: undefined }, NORMAL_WRITE);
    this.state.actions.push(`swept:${ids.length}`);
    return keys.filter((k) => !ids.includes(k.id));
  }
}
