/**
 * OpenTelemetry SDK bootstrap. `register.ts` calls this before any application module loads;
 * tests call it with an in-memory exporter.
 *
 * The standard OTEL_* variables are honoured as the SDK documents them (OTEL_TRACES_EXPORTER,
 * OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT and per-signal
 * endpoints, OTEL_EXPORTER_OTLP_PROTOCOL incl. http/json, OTEL_SERVICE_NAME). One default
 * differs: where nothing names an exporter or endpoint for a signal, that signal is not exported
 * (the SDK would otherwise post to localhost:4318 and log every failure). Traces are still
 * recorded, so every request has a trace id for logs, rows and the `x-trace-id` header.
 *
 * Metrics always go to a Prometheus reader served at GET /metrics, plus OTLP when configured.
 */
import { NodeSDK } from "@opentelemetry/sdk-node";
import { NoopSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace";
import { PeriodicExportingMetricReader, type IMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPMetricExporter as OTLPMetricExporterHttp } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as OTLPMetricExporterProto } from "@opentelemetry/exporter-metrics-otlp-proto";
import { getNodeAutoInstrumentations } from "@opentelemetry/auto-instrumentations-node";
import { PrismaInstrumentation } from "@prisma/instrumentation";

export interface TelemetryOptions {
  /** Replaces the exporters chosen by OTEL_TRACES_EXPORTER (tests). */
  spanProcessors?: SpanProcessor[];
  /** Environment to read (Default: process.env). */
  environment?: Record<string, string | undefined>;
}

type Signal = "TRACES" | "METRICS" | "LOGS";

/** True when the environment names an exporter or an OTLP endpoint for the signal. */
export function exportConfigured(signal: Signal, e: Record<string, string | undefined>): boolean {
  const set = (k: string) => (e[k] ?? "").trim() !== "";
  const exporter = (e[`OTEL_${signal}_EXPORTER`] ?? "").trim();
  if (exporter) return exporter !== "none";
  return set("OTEL_EXPORTER_OTLP_ENDPOINT") || set(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`);
}

function otlpMetricReader(e: Record<string, string | undefined>): IMetricReader {
  const protocol = (e["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] ?? e["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? "http/protobuf").trim();
  const exporter: PushMetricExporter =
    protocol === "http/json" ? new OTLPMetricExporterHttp() : new OTLPMetricExporterProto();
  const interval = Number(e["OTEL_METRIC_EXPORT_INTERVAL"] ?? 60_000);
  return new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval > 0 ? interval : 60_000 });
}

let sdk: NodeSDK | undefined;
let prometheus: PrometheusExporter | undefined;

/** The reader behind GET /metrics. */
export function prometheusExporter(): PrometheusExporter {
  prometheus ??= new PrometheusExporter({ preventServerStart: true });
  return prometheus;
}

export function startTelemetry(options: TelemetryOptions = {}): NodeSDK {
  if (sdk) return sdk;
  const e = options.environment ?? process.env;
  // Logs are written as JSON to stdout; OTLP log export only when asked for.
  if (!exportConfigured("LOGS", e)) process.env["OTEL_LOGS_EXPORTER"] = "none";

  const metricReaders: IMetricReader[] = [prometheusExporter()];
  const metricsExporter = (e["OTEL_METRICS_EXPORTER"] ?? "").split(",").map((s) => s.trim());
  if (exportConfigured("METRICS", e) && (metricsExporter.includes("otlp") || metricsExporter.join("") === "")) {
    metricReaders.push(otlpMetricReader(e));
  }

  const spanProcessors =
    options.spanProcessors ?? (exportConfigured("TRACES", e) ? undefined : [new NoopSpanProcessor()]);

  sdk = new NodeSDK({
    serviceName: e["OTEL_SERVICE_NAME"] ?? "calsync",
    ...(spanProcessors ? { spanProcessors } : {}),
    metricReaders,
    instrumentations: [
      getNodeAutoInstrumentations({
        "@opentelemetry/instrumentation-fs": { enabled: false },
        "@opentelemetry/instrumentation-dns": { enabled: false },
        "@opentelemetry/instrumentation-net": { enabled: false },
        // graphile-worker polls the queue; without a parent those queries would each be a trace.
        "@opentelemetry/instrumentation-pg": { requireParentSpan: true, enhancedDatabaseReporting: false },
        "@opentelemetry/instrumentation-http": {
          // Health probes and scrapes are not worth a trace each.
          ignoreIncomingRequestHook: (req) => /^\/(healthz|readyz|metrics)(\?|$)/.test(req.url ?? ""),
        },
      }),
      // pg's instrumentation already traces every statement (with its text); Prisma's own
      // db_query span would trace each one a second time, and serialize/compile are noise.
      new PrismaInstrumentation({ ignoreSpanTypes: ["prisma:client:db_query", "prisma:client:serialize", "prisma:client:compile"] }),
    ],
  });
  sdk.start();
  return sdk;
}

export async function stopTelemetry(): Promise<void> {
  const current = sdk;
  sdk = undefined;
  await current?.shutdown().catch(() => {});
}
