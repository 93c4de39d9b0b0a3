/**
 * Every metric and span the broker emits: name, unit, description and the attributes it may carry.
 * The code refers to instruments by key; the OpenTelemetry adapter creates them from this table;
 * a test checks that every name used by the alerts and the workbook in infra/ is listed here.
 *
 * Metric attributes are low-cardinality only (provider, outcome, code, kind...): never a caller
 * token, fingerprint, key id or secret name. OpenTelemetry semantic-convention names are used
 * where one exists (`http.response.status_code`, `error.type`); `token_broker.*` otherwise.
 */

export type InstrumentKind = "counter" | "histogram" | "gauge";

export interface InstrumentSpec {
  readonly name: string;
  readonly kind: InstrumentKind;
  readonly unit: string;
  readonly description: string;
  readonly attributes: readonly string[];
}

export const INSTRUMENTS = {
  tokenRequests: {
    name: "token_broker.token.requests",
    kind: "counter",
    unit: "{request}",
    description: "Token requests answered, by provider and outcome (hit, miss, shared, forced, denied) and error code.",
    attributes: ["provider", "outcome", "code", "http.response.status_code"],
  },
  credentialRemainingLifetime: {
    name: "token_broker.credential.remaining_lifetime",
    kind: "histogram",
    unit: "s",
    description: "Life left in a credential when it is served.",
    attributes: ["provider"],
  },
  credentialAge: {
    name: "token_broker.credential.age",
    kind: "histogram",
    unit: "s",
    description: "Time since the partner issued the credential, when it is served.",
    attributes: ["provider"],
  },
  partnerFetchDuration: {
    name: "token_broker.partner.fetch.duration",
    kind: "histogram",
    unit: "s",
    description: "Duration of one logical partner call, retries and back-off included, by outcome (success or the error code).",
    attributes: ["provider", "outcome"],
  },
  partnerFetchFailures: {
    name: "token_broker.partner.fetch.failures",
    kind: "counter",
    unit: "{failure}",
    description: "Failed partner attempts and refused calls, by kind (transient, rejected, invalid, circuit_open, throttled).",
    attributes: ["provider", "kind"],
  },
  circuitState: {
    name: "token_broker.partner.circuit.state",
    kind: "gauge",
    unit: "1",
    description: "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
    attributes: ["provider"],
  },
  throttledFor: {
    name: "token_broker.partner.throttled_for",
    kind: "gauge",
    unit: "s",
    description: "Seconds until the partner's last Retry-After ends (0 when not throttled).",
    attributes: ["provider"],
  },
  secretReadDuration: {
    name: "token_broker.secret_store.read.duration",
    kind: "histogram",
    unit: "s",
    description: "Latency of secret reads from the store (Key Vault in Azure) by outcome (success or the error code).",
    attributes: ["outcome"],
  },
  secretStaleServed: {
    name: "token_broker.secret_store.stale_served",
    kind: "counter",
    unit: "{read}",
    description: "Secret values served from memory past their TTL while the store is failing.",
    attributes: [],
  },
  rotationRuns: {
    name: "token_broker.rotation.runs",
    kind: "counter",
    unit: "{run}",
    description: "Rotation runs (timer or operator) by outcome (rotated, accepted, no_change, failed, ...).",
    attributes: ["provider", "outcome", "code"],
  },
  rotationKeyAge: {
    name: "token_broker.rotation.key_age",
    kind: "gauge",
    unit: "s",
    description: "Age of the key in service, as last read by the broker.",
    attributes: ["provider"],
  },
  rotationOverdue: {
    name: "token_broker.rotation.overdue",
    kind: "gauge",
    unit: "s",
    description: "Seconds the key in service is past its rotation due time (0 when not due).",
    attributes: ["provider"],
  },
  rotationPhase: {
    name: "token_broker.rotation.phase",
    kind: "gauge",
    unit: "1",
    description: "1 for the provider's current rotation journal phase (idle, creating, created, verified, done, retiring, ...).",
    attributes: ["provider", "phase"],
  },
  rotationFailures: {
    name: "token_broker.rotation.consecutive_failures",
    kind: "gauge",
    unit: "{failure}",
    description: "Consecutive failed rotation attempts recorded in the journal.",
    attributes: ["provider"],
  },
  rotationNeedsAttention: {
    name: "token_broker.rotation.needs_attention",
    kind: "gauge",
    unit: "1",
    description: "1 when automatic rotation stopped and an operator must act.",
    attributes: ["provider"],
  },
  sharedCacheDegraded: {
    name: "token_broker.fleet.degraded",
    kind: "counter",
    unit: "{error}",
    description: "Shared cache (Redis) operations that failed and fell back to the local path.",
    attributes: ["operation"],
  },
  singleFlightWaits: {
    name: "token_broker.cache.single_flight.waits",
    kind: "counter",
    unit: "{request}",
    description: "Requests that waited for a partner call already in flight, here (local) or on another instance (fleet).",
    attributes: ["provider", "scope"],
  },
  invalidations: {
    name: "token_broker.cache.invalidations",
    kind: "counter",
    unit: "{invalidation}",
    description: "Provider cache invalidations, by origin (local or remote).",
    attributes: ["provider", "origin"],
  },
  callerVerifications: {
    name: "token_broker.caller.verifications",
    kind: "counter",
    unit: "{verification}",
    description: "Caller tokens checked, by outcome: verified (signature checked), cached (verified before), rejected.",
    attributes: ["outcome"],
  },
  jwksFetches: {
    name: "token_broker.caller.jwks.fetches",
    kind: "counter",
    unit: "{fetch}",
    description: "JWKS fetches of trusted issuers, by outcome (success, failure).",
    attributes: ["outcome"],
  },
} as const satisfies Record<string, InstrumentSpec>;

export type InstrumentKey = keyof typeof INSTRUMENTS;
type KeysOfKind<K extends InstrumentKind> = { [I in InstrumentKey]: (typeof INSTRUMENTS)[I]["kind"] extends K ? I : never }[InstrumentKey];
export type CounterKey = KeysOfKind<"counter">;
export type HistogramKey = KeysOfKind<"histogram">;
export type GaugeKey = KeysOfKind<"gauge">;

/** Span names and the attributes spans may carry (spans are not aggregated: a caller name is fine there). */
export const SPANS = {
  tokenRequest: "token_broker.token.request",
  partnerFetch: "token_broker.partner.fetch",
  partnerAttempt: "token_broker.partner.attempt",
  sharedCacheGet: "token_broker.shared_cache.get",
  sharedCachePut: "token_broker.shared_cache.put",
  fleetSingleFlight: "token_broker.shared_cache.single_flight",
  rotationRun: "token_broker.rotation.run",
  rotationStep: "token_broker.rotation.step",
} as const;

export type SpanName = (typeof SPANS)[keyof typeof SPANS];

export const SPAN_ATTRIBUTES = [
  "caller",
  "provider",
  "outcome",
  "code",
  "attempt",
  "retry.reason",
  "step",
  "phase",
  "db.system.name",
  "db.operation.name",
  "error.type",
  "http.response.status_code",
] as const;
