import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { OtelTelemetry } from "../../shared/telemetry/otel-telemetry.js";

export interface MetricPoint {
  attributes: Record<string, unknown>;
  /** A number for counters and gauges; the histogram's { count, sum } otherwise. */
  value: number | { count: number; sum?: number };
}

export interface InMemoryTelemetry {
  telemetry: OtelTelemetry;
  spans(): ReadableSpan[];
  /** Collects now and returns the points of one metric (cumulative since start). */
  points(name: string): Promise<MetricPoint[]>;
  reset(): void;
}

let registered = false;

/**
 * The OpenTelemetry SDK with in-memory exporters behind the real adapter. The first call registers
 * the async-context manager process-wide (a span's children are found through it); every call gets
 * its own providers, so tests do not see each other's data.
 */
export function inMemoryTelemetry(): InMemoryTelemetry {
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  if (!registered) {
    tracerProvider.register();
    registered = true;
  }
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    telemetry: new OtelTelemetry({ tracerProvider, meterProvider }),
    spans: () => spanExporter.getFinishedSpans(),
    async points(name) {
      metricExporter.reset();
      await reader.forceFlush();
      const points: MetricPoint[] = [];
      for (const resource of metricExporter.getMetrics()) {
        for (const scope of resource.scopeMetrics) {
          for (const metric of scope.metrics) {
            if (metric.descriptor.name !== name) continue;
            for (const p of metric.dataPoints) points.push({ attributes: { ...p.attributes }, value: p.value as MetricPoint["value"] });
          }
        }
      }
      return points;
    },
    reset: () => spanExporter.reset(),
  };
}
