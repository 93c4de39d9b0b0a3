import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import azureFunctions from "@azure/functions";
import type { TokenCredential } from "@azure/identity";
import functionsInstrumentation from "@azure/functions-opentelemetry-instrumentation";
import {
  AzureMonitorLogExporter,
  AzureMonitorMetricExporter,
  AzureMonitorTraceExporter,
  type AzureMonitorExporterOptions,
} from "@azure/monitor-opentelemetry-exporter";
import * as coreTracing from "@azure/core-tracing";
import { AzureSdkInstrumentation } from "@azure/opentelemetry-instrumentation-azure-sdk";
import { logs } from "@opentelemetry/api-logs";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { metrics } from "@opentelemetry/api";
import { OtelTelemetry } from "./otel-telemetry.js";
import type { Telemetry } from "./telemetry.js";

export interface AzureMonitorOptions {
  connectionString: string;
  /** Authenticates ingestion (the Application Insights resource has local auth disabled): the managed identity. */
  credential: TokenCredential;
  /** Cloud role name in Application Insights. */
  serviceName: string;
  serviceInstanceId?: string;
  /**
   * Send nothing but telemetry to the ingestion endpoint: no SDK statistics (statsbeat, which also
   * probes the VM metadata address) and no SDK settings poll. For locked-down networks and tests.
   */
  ingestionOnly: boolean;
  /** Metric export interval (default 60 s). */
  metricIntervalMs?: number;
  /**
   * The process environment: the exporter reads its statistics switches only from there, so
   * `ingestionOnly` sets them on it (the composition root passes process.env).
   */
  env: Record<string, string | undefined>;
}

export interface AzureMonitorTelemetry {
  telemetry: Telemetry;
  /** Exports what is pending and stops the exporters (worker shutdown). */
  shutdown(): Promise<void>;
}

/**
 * Loaded (with a dynamic import) only when APPLICATIONINSIGHTS_CONNECTION_STRING is set: the
 * OpenTelemetry SDK with the Azure Monitor exporters for traces, metrics and logs, undici
 * instrumentation for partner calls made with fetch, the Azure SDK's own tracing (Key Vault,
 * managed identity), and the Functions instrumentation that puts each invocation's spans in the
 * host's trace.
 */
export async function startAzureMonitor(options: AzureMonitorOptions): Promise<AzureMonitorTelemetry> {
  if (options.ingestionOnly) {
    // Read by the exporter's constructors and senders: set before they run.
    options.env.APPLICATIONINSIGHTS_STATSBEAT_DISABLED = "true";
    options.env.APPLICATION_INSIGHTS_NO_STATSBEAT = "true";
    options.env.APPLICATIONINSIGHTS_SDKSTATS_DISABLED = "true";
  }
  const exporterOptions: AzureMonitorExporterOptions = {
    connectionString: options.connectionString,
    credential: options.credential,
    // Functions instances are short-lived and their disk is not theirs to fill: retry in memory only.
    disableOfflineStorage: true,
  };
  const resource = resourceFromAttributes({
    "service.name": options.serviceName,
    ...(options.serviceInstanceId ? { "service.instance.id": options.serviceInstanceId } : {}),
  });

  const tracerProvider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new AzureMonitorTraceExporter(exporterOptions))],
  });
  tracerProvider.register();
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new AzureMonitorMetricExporter(exporterOptions),
        exportIntervalMillis: options.metricIntervalMs ?? 60_000,
      }),
    ],
  });
  metrics.setGlobalMeterProvider(meterProvider);
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter: new AzureMonitorLogExporter(exporterOptions) })],
  });
  logs.setGlobalLoggerProvider(loggerProvider);
  if (options.ingestionOnly) await stopSettingsPoll();

  // A CommonJS package: under ESM its classes come from the default export.
  const functions = new functionsInstrumentation.AzureFunctionsInstrumentationESM();
  const azureSdk = new AzureSdkInstrumentation();
  registerInstrumentations({
    tracerProvider,
    meterProvider,
    loggerProvider,
    instrumentations: [new UndiciInstrumentation(), azureSdk, functions],
  });
  // Under ESM no module hook sees @azure/functions or @azure/core-tracing being loaded: hand them over.
  functions.registerAzFunc(azureFunctions as unknown as Parameters<typeof functions.registerAzFunc>[0]);
  // No module hook sees @azure/core-tracing either (ESM, or bundled into the deployable): apply the
  // Azure SDK instrumentation's patch to the very module instance the SDK clients use, which
  // installs the OpenTelemetry instrumenter for every Azure SDK client (Key Vault, identity).
  for (const definition of azureSdk.getModuleDefinitions()) definition.patch?.(coreTracing as never);

  return {
    telemetry: new OtelTelemetry({ tracerProvider, meterProvider }),
    async shutdown() {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]);
    },
  };
}

/**
 * The exporter polls an SDK settings service (a Microsoft host) from 5-15 s after start, with no
 * switch to turn it off; its singleton is internal to the (exactly pinned) package, so it is
 * reached by file path. If the file moved, the poll stays on and a warning says so.
 */
async function stopSettingsPoll(): Promise<void> {
  try {
    // Resolvable only where the package is installed (tests, unbundled runs); in the bundled
    // deployable there is no node_modules and the poll stays on, which Azure's network allows.
    const cjsEntry = createRequire(import.meta.url).resolve("@azure/monitor-opentelemetry-exporter");
    const file = join(dirname(dirname(cjsEntry)), "esm", "_configuration", "configurationManager.js");
    const { ConfigurationManager } = (await import(pathToFileURL(file).href)) as {
      ConfigurationManager: { getInstance(): { shutdown(): void } };
    };
    ConfigurationManager.getInstance().shutdown();
  } catch {
    process.emitWarning("Azure Monitor exporter: could not stop its settings poll (its internal module moved)");
  }
}
