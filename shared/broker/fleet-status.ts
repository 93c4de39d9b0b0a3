import type { Heartbeat, ProviderBeat, RedisHeartbeats } from "../cache/heartbeat.js";
import type { RedisConnectionStatus } from "../cache/redis-connection.js";
import { type Clock, iso } from "../clock.js";
import type { StatusConfig } from "../config/observability-schema.js";
import type { ProviderRuntime } from "../providers/source-registry.js";
import type { TokenCache } from "../tokens/token-cache.js";
import type { ProviderStatus } from "./admin-service.js";
import { STATUS_STATES, type StatusQuery, type StatusState, type StatusView } from "./status-query.js";

export interface InstanceIdentity {
  id: string;
  startedAt: number;
  version: string;
}

export interface FleetStatusDeps {
  self: InstanceIdentity;
  clock: Clock;
  config: StatusConfig;
  providers: ReadonlyMap<string, ProviderRuntime>;
  cache: TokenCache;
  /** With Redis: the fleet's heartbeats and this instance's connection health. */
  heartbeats?: RedisHeartbeats;
  sharedCache?: () => RedisConnectionStatus;
}

export interface InstanceEntry {
  id: string;
  self: boolean;
  started_at: string;
  version: string;
  last_seen_at: string;
  /** No heartbeat for longer than status.staleAfterSec: left out of the fleet-wide provider state. */
  stale: boolean;
  degraded: boolean;
}

/** Full view, fleet scope, when a live instance reports anything for the provider. */
export interface FleetProviderState {
  /** Live instances holding a valid token (this one included). */
  valid_on: number;
  expires_at?: string;
  last_refresh_at?: string;
  last_error?: { code: string; at: string; instance: string };
  circuit_open_on: string[];
}

export type ProviderReport = ProviderStatus & { states: StatusState[]; fleet?: FleetProviderState };

/** What the operator route hands over: the providers asked for and how to describe each. */
export interface StatusInput {
  /** The providers the query names, or all of them. */
  names: string[];
  /** Providers in the configuration. */
  configured: number;
  query: StatusQuery;
  /** Rotation state of a rotating provider (undefined for the others). */
  rotation(name: string): ProviderStatus["rotation"];
  /** This instance's full status of one provider, built only for the providers the answer lists. */
  describe(name: string): ProviderStatus;
}

export type StateCounts = Record<"providers" | StatusState, number>;

export interface StatusReport {
  generated_at: string;
  /** `fleet`: every live instance's heartbeat was read; `instance`: this instance alone (see `note`). */
  scope: "fleet" | "instance";
  note?: string;
  instances: InstanceEntry[];
  shared_cache: unknown;
  view: StatusView;
  filters?: StatusQuery;
  /** Counts over the providers that match the filters. */
  summary: StateCounts;
  /** Full view only. */
  providers?: ProviderReport[];
  hint?: string;
}

/**
 * The operator status, fleet-wide when Redis is on: this instance's provider state is merged with
 * the heartbeats of the live instances (a token valid on any of them counts as valid, an open
 * circuit on any of them counts as open). Instances silent for longer than `staleAfterSec` are
 * listed as stale and left out. Large configurations get counts per state by default.
 */
export class FleetStatus {
  constructor(private readonly deps: FleetStatusDeps) {}

  get heartbeatIntervalMs(): number {
    return this.deps.config.heartbeatSec * 1000;
  }

  /** A heartbeat stays readable this long after its publish, listed as stale once silent. */
  get heartbeatTtlMs(): number {
    return this.deps.config.staleAfterSec * 10_000;
  }

  /** This instance's heartbeat: metadata only, providers with nothing to report left out. */
  beat(): Heartbeat {
    const now = this.deps.clock.now();
    const providers: Record<string, ProviderBeat> = {};
    for (const [name, runtime] of this.deps.providers) {
      const state = this.deps.cache.state(name);
      const circuit = runtime.caller?.breaker.state;
      if (state.expiresAt === undefined && state.lastError === undefined && state.lastRefreshAt === undefined && (circuit ?? "closed") === "closed") continue;
      const beat: ProviderBeat = {};
      if (state.expiresAt !== undefined) beat.expires_at = state.expiresAt;
      if (state.lastRefreshAt !== undefined) beat.last_refresh_at = state.lastRefreshAt;
      if (state.lastError !== undefined) beat.last_error = { code: state.lastError.code, at: state.lastError.at };
      if (circuit === "open" || circuit === "half-open") beat.circuit = circuit;
      providers[name] = beat;
    }
    const self = this.deps.self;
    return { v: 1, instance: self.id, started_at: self.startedAt, version: self.version, published_at: now, degraded: this.degraded(now), providers };
  }

  async report(input: StatusInput): Promise<StatusReport> {
    const { query, configured } = input;
    const now = this.deps.clock.now();
    const self = this.beat();
    const others = this.deps.heartbeats ? await this.deps.heartbeats.read() : undefined;
    const staleAfterMs = this.deps.config.staleAfterSec * 1000;
    const instances: InstanceEntry[] = [instanceEntry(self, true, false)];
    const live: Heartbeat[] = [self];
    for (const beat of others ?? []) {
      if (beat.instance === self.instance) continue;
      const stale = now - beat.published_at > staleAfterMs;
      instances.push(instanceEntry(beat, false, stale));
      if (!stale) live.push(beat);
    }
    const fleetScope = others !== undefined;
    const filtered = query.providers !== undefined || query.states !== undefined;
    const view = query.view ?? (!filtered && configured > this.deps.config.summaryAbove ? "summary" : "full");

    // The summary view counts without building a report entry per provider.
    const summary = Object.fromEntries([["providers", 0], ...STATUS_STATES.map((s) => [s, 0])]) as StateCounts;
    const matched: ProviderReport[] = [];
    const withFleet = view === "full" && fleetScope;
    for (const name of input.names) {
      const rotation = input.rotation(name);
      const attention = rotation !== undefined && ("error" in rotation || rotation.needsAttention);
      const merged = mergeProvider(name, attention, live, now, withFleet);
      if (query.states && !query.states.some((s) => merged.states.includes(s))) continue;
      summary.providers++;
      for (const s of merged.states) summary[s]++;
      if (view !== "full") continue;
      const entry: ProviderReport = Object.assign(input.describe(name), { states: merged.states });
      if (merged.fleet) entry.fleet = merged.fleet;
      matched.push(entry);
    }

    const report: StatusReport = {
      generated_at: new Date(now).toISOString(),
      scope: fleetScope ? "fleet" : "instance",
      instances,
      shared_cache: this.deps.sharedCache?.() ?? "off",
      view,
      summary,
    };
    if (!this.deps.heartbeats) report.note = "Redis is off (no REDIS_URL): this status shows one instance, the one that answered.";
    else if (!fleetScope) report.note = "The fleet's heartbeats could not be read from Redis: this status shows one instance, the one that answered.";
    if (filtered) report.filters = { providers: query.providers, states: query.states };
    if (view === "full") report.providers = matched;
    else if (query.view === undefined) {
      report.hint =
        `${configured} providers (more than status.summaryAbove, ${this.deps.config.summaryAbove}): counts only. ` +
        "Ask for the list with ?view=full, or narrow it with ?state= or ?provider=.";
    }
    return report;
  }

  private degraded(now: number): boolean {
    const redis = this.deps.sharedCache?.();
    if (redis === undefined) return false;
    return !redis.healthy || (redis.lastDegradedAt !== undefined && now - redis.lastDegradedAt < this.heartbeatIntervalMs);
  }
}

function instanceEntry(beat: Heartbeat, self: boolean, stale: boolean): InstanceEntry {
  return {
    id: beat.instance,
    self,
    started_at: iso(beat.started_at),
    version: beat.version,
    last_seen_at: iso(beat.published_at),
    stale,
    degraded: beat.degraded,
  };
}

/**
 * One provider over the live instances' heartbeats (this instance's first): its states and, when
 * asked, the fleet block of the full view. A token valid on any live instance counts as valid.
 */
function mergeProvider(provider: string, needsAttention: boolean, live: Heartbeat[], now: number, withFleet: boolean) {
  let validOn = 0;
  let expiresAt: number | undefined;
  let refreshedAt: number | undefined;
  let lastError: { code: string; at: number; instance: string } | undefined;
  let failing = false;
  let openOn: string[] | undefined;
  let reported = false;
  for (const beat of live) {
    const p = beat.providers[provider];
    if (p === undefined) continue;
    reported = true;
    if (p.expires_at !== undefined) {
      if (p.expires_at > now) validOn++;
      expiresAt = Math.max(expiresAt ?? 0, p.expires_at);
    }
    if (p.last_refresh_at !== undefined) refreshedAt = Math.max(refreshedAt ?? 0, p.last_refresh_at);
    if (p.last_error !== undefined) {
      if (p.last_error.at > (p.last_refresh_at ?? 0)) failing = true;
      if (lastError === undefined || p.last_error.at > lastError.at) lastError = { ...p.last_error, instance: beat.instance };
    }
    if (p.circuit !== undefined) {
      openOn ??= [];
      openOn.push(beat.instance);
    }
  }

  const states: StatusState[] = [validOn > 0 ? "valid" : expiresAt !== undefined ? "expired" : "cold"];
  if (openOn !== undefined) states.push("circuit_open");
  if (needsAttention) states.push("needs_attention");
  if (failing) states.push("failing");
  // Nothing reported anywhere (a cold provider): no block, which keeps the full list small.
  if (!withFleet || !reported) return { states, fleet: undefined };

  const fleet: FleetProviderState = { valid_on: validOn, circuit_open_on: openOn ?? [] };
  if (expiresAt !== undefined) fleet.expires_at = iso(expiresAt);
  if (refreshedAt !== undefined) fleet.last_refresh_at = iso(refreshedAt);
  if (lastError !== undefined) fleet.last_error = { code: lastError.code, at: iso(lastError.at), instance: lastError.instance };
  return { states, fleet };
}
