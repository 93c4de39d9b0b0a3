import {
  context,
  metrics,
  SpanKind as OtelSpanKind,
  SpanStatusCode,
  trace,
  type Attributes as OtelAttributes,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type ObservableResult,
  type Span,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { INSTRUMENTS, type CounterKey, type GaugeKey, type HistogramKey, type InstrumentKey, type SpanName } from "./instruments.js";
import { errorType, type ActiveSpan, type Attributes, type SpanKind, type SpanOptions, type Telemetry } from "./telemetry.js";

const SCOPE = "token-broker";
const KINDS: Record<SpanKind, OtelSpanKind> = {
  internal: OtelSpanKind.INTERNAL,
  server: OtelSpanKind.SERVER,
  client: OtelSpanKind.CLIENT,
};

/**
 * The telemetry port over the OpenTelemetry API: instruments are created once from the registry
 * (instruments.ts), metric attributes outside an instrument's declared list are dropped (so a
 * careless call can never create a high-cardinality series), and a `server` span started inside
 * another trace (the Functions host's invocation) becomes an internal span, so Application
 * Insights shows one request per invocation, not two.
 */
export class OtelTelemetry implements Telemetry {
  private readonly tracer: Tracer;
  private readonly meter: Meter;
  private readonly counters = new Map<InstrumentKey, Counter>();
  private readonly histograms = new Map<InstrumentKey, Histogram>();
  private readonly allowed = new Map<InstrumentKey, ReadonlySet<string>>();

  constructor(providers: { tracerProvider?: TracerProvider; meterProvider?: MeterProvider } = {}) {
    this.tracer = (providers.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE);
    this.meter = (providers.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE);
    for (const [key, spec] of Object.entries(INSTRUMENTS) as [InstrumentKey, (typeof INSTRUMENTS)[InstrumentKey]][]) {
      this.allowed.set(key, new Set(spec.attributes));
      const options = { description: spec.description, unit: spec.unit };
      if (spec.kind === "counter") this.counters.set(key, this.meter.createCounter(spec.name, options));
      else if (spec.kind === "histogram") this.histograms.set(key, this.meter.createHistogram(spec.name, options));
    }
  }

  span<T>(name: SpanName, options: SpanOptions, fn: (span: ActiveSpan) => T): T {
    let kind = KINDS[options.kind ?? "internal"];
    if (kind === OtelSpanKind.SERVER && trace.getSpanContext(context.active()) !== undefined) kind = OtelSpanKind.INTERNAL;
    return this.tracer.startActiveSpan(name, { kind, attributes: clean(options.attributes) }, (span) => {
      const active = wrap(span);
      let result: T;
      try {
        result = fn(active);
      } catch (error) {
        active.fail(error);
        span.end();
        throw error;
      }
      if (isThenable(result)) {
        result.then(
          () => span.end(),
          (error: unknown) => {
            active.fail(error);
            span.end();
          },
        );
      } else {
        span.end();
      }
      return result;
    });
  }

  add(counter: CounterKey, value: number, attributes?: Attributes): void {
    this.counters.get(counter)?.add(value, this.filter(counter, attributes));
  }

  record(histogram: HistogramKey, value: number, attributes?: Attributes): void {
    this.histograms.get(histogram)?.record(value, this.filter(histogram, attributes));
  }

  observe(gauge: GaugeKey, read: (emit: (value: number, attributes?: Attributes) => void) => void): void {
    const spec = INSTRUMENTS[gauge];
    const instrument = this.meter.createObservableGauge(spec.name, { description: spec.description, unit: spec.unit });
    instrument.addCallback((result: ObservableResult) => {
      read((value, attributes) => result.observe(value, this.filter(gauge, attributes)));
    });
  }

  private filter(key: InstrumentKey, attributes: Attributes | undefined): OtelAttributes | undefined {
    if (attributes === undefined) return undefined;
    const allowed = this.allowed.get(key)!;
    const out: OtelAttributes = {};
    for (const [name, value] of Object.entries(attributes)) if (value !== undefined && allowed.has(name)) out[name] = value;
    return out;
  }
}

function wrap(span: Span): ActiveSpan {
  return {
    set: (attributes) => span.setAttributes(clean(attributes) ?? {}),
    fail: (error) => {
      const type = errorType(error);
      span.setAttribute("error.type", type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    },
  };
}

function clean(attributes: Attributes | undefined): OtelAttributes | undefined {
  if (attributes === undefined) return undefined;
  const out: OtelAttributes = {};
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined) out[name] = value;
  return out;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}
