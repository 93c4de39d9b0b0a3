import type { CounterKey, GaugeKey, HistogramKey, SpanName } from "./instruments.js";
import { isInternalCode } from "../errors/codes.js";

export type AttributeValue = string | number | boolean | undefined;
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** `server` marks the request a caller made (RequestData in Application Insights), `client` a dependency call. */
export type SpanKind = "internal" | "server" | "client";

export interface SpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
}

export interface ActiveSpan {
  set(attributes: Attributes): void;
  /** Marks the span failed with the error's stable code (never its message). */
  fail(error: unknown): void;
}

/**
 * The broker's telemetry port. shared/ records through it and never loads an OpenTelemetry SDK:
 * the composition root passes the OpenTelemetry adapter when telemetry is configured, and this
 * no-op otherwise, so an app without Application Insights pays a closure call per request.
 */
export interface Telemetry {
  /**
   * Runs `fn` in a new span, the current one for everything `fn` starts (async work included).
   * A returned promise ends the span when it settles; anything else ends it at once.
   */
  span<T>(name: SpanName, options: SpanOptions, fn: (span: ActiveSpan) => T): T;
  add(counter: CounterKey, value: number, attributes?: Attributes): void;
  record(histogram: HistogramKey, value: number, attributes?: Attributes): void;
  /** Registers a gauge read at each export; `read` emits one value per attribute set. */
  observe(gauge: GaugeKey, read: (emit: (value: number, attributes?: Attributes) => void) => void): void;
}

const noSpan: ActiveSpan = { set() {}, fail() {} };

export const noTelemetry: Telemetry = {
  span: (_name, _options, fn) => fn(noSpan),
  add() {},
  record() {},
  observe() {},
};

/**
 * The code of a BrokerError (or anything with a string `code`), else the error's class name. An
 * internal-only code says less than the class that carries it (UpstreamFailure, RedisUnavailableError).
 */
export function errorType(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && /^[a-z_]{1,40}$/.test(code) && !isInternalCode(code)) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === "string" && /^[A-Za-z]{1,40}$/.test(name)) return name;
  }
  return "error";
}
