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
import { setGlobalErrorHandler } from "@opentelemetry/core";
import { envDetector, hostDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { NoopSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace";
import { PeriodicExportingMetricReader, type IMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPMetricExporter as OTLPMetricExporterHttp } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as OTLPMetricExporterProto } from "@opentelemetry/exporter-metrics-otlp-proto";
import type { Instrumentation } from "@opentelemetry/instrumentation";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { PinoInstrumentation } from "@opentelemetry/instrumentation-pino";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { RuntimeNodeInstrumentation } from "@opentelemetry/instrumentation-runtime-node";
import { PrismaInstrumentation } from "@prisma/instrumentation";

/**
 * Packages whose ESM imports the instrumentations below patch (register.ts limits the ESM hook
 * to them). Node built-ins (http) and undici (diagnostics channels) need no hook.
 */
export const INSTRUMENTED_PACKAGES = ["pg", "pg-pool", "pino", "ioredis"] as const;

/**
 * Only what calsync calls, loaded package by package. `@opentelemetry/auto-instrumentations-node`
 * was the entry here, with its own selection (fs, dns, net off): but its entry module imports all
 * ~40 instrumentations and every cloud resource detector whatever the selection, which held about
 * 10 MB (plus their patch hooks) in every process. These are the same packages it bundles, with
 * the same configuration, and `OTEL_NODE_ENABLED_INSTRUMENTATIONS` /
 * `OTEL_NODE_DISABLED_INSTRUMENTATIONS` (comma-separated short names: http, undici, pg, pino,
 * ioredis, runtime-node) select among them as that package documents.
 *   http          HTTP server spans (named by route, see src/http/app.ts) and outbound http
 *   undici        fetch(): the Cal.com API client
 *   pg            every SQL statement (the webhook inbox, graphile-worker, Prisma's adapter)
 *   pino          log correlation fields and the OTLP logs bridge
 *   ioredis       the shared rate-limit store when REDIS_URL is set
 *   runtime-node  event loop and V8 heap metrics
 * graphile-worker has no instrumentation: src/worker/ wraps each task in producer/consumer spans.
 * GraphQL operations and resolvers are traced by @envelop/opentelemetry (src/http/graphql.ts).
 */
function calsyncInstrumentations(e: Record<string, string | undefined>): Instrumentation[] {
  const all: Record<string, () => Instrumentation> = {
    http: () =>
      new HttpInstrumentation({
        // Health probes and scrapes are not worth a trace each.
        ignoreIncomingRequestHook: (req) => /^\/(healthz|readyz|metrics)(\?|$)/.test(req.url ?? ""),
      }),
    undici: () => new UndiciInstrumentation(),
    // graphile-worker polls the queue; without a parent those queries would each be a trace.
    pg: () => new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    pino: () => new PinoInstrumentation(),
    ioredis: () => new IORedisInstrumentation({ requireParentSpan: true }),
    "runtime-node": () => new RuntimeNodeInstrumentation(),
  };
  const list = (k: string) =>
    (e[k] ?? "").split(",").map((s) => s.trim().replace(/^@opentelemetry\/instrumentation-/, "")).filter(Boolean);
  const enabled = list("OTEL_NODE_ENABLED_INSTRUMENTATIONS");
  const disabled = new Set(list("OTEL_NODE_DISABLED_INSTRUMENTATIONS"));
  return Object.entries(all)
    .filter(([name]) => (enabled.length === 0 || enabled.includes(name)) && !disabled.has(name))
    .map(([, make]) => make());
}

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
    // No process detector: its command line and executable paths would land in every export and
    // in Prometheus' target_info. OTEL_NODE_RESOURCE_DETECTORS still picks detectors as documented.
    ...((e["OTEL_NODE_RESOURCE_DETECTORS"] ?? "").trim() ? {} : { resourceDetectors: [envDetector, hostDetector] }),
    resource: resourceFromAttributes({ "process.runtime.name": "nodejs", "process.runtime.version": process.versions.node }),
    ...(spanProcessors ? { spanProcessors } : {}),
    metricReaders,
    instrumentations: [
      ...calsyncInstrumentations(e),
      // pg's instrumentation already traces every statement (with its text); Prisma's own
      // db_query span would trace each one a second time, and serialize/compile are noise.
      new PrismaInstrumentation({ ignoreSpanTypes: ["prisma:client:db_query", "prisma:client:serialize", "prisma:client:compile"] }),
    ],
  });
  setGlobalErrorHandler(reportExportErrorOnce);
  sdk.start();
  return sdk;
}

/**
 * Export errors (a collector that is down or unreachable) are reported once per distinct message,
 * as one JSON log line, instead of once per batch and signal. The line carries the error message
 * only: exporters' errors name the endpoint, never headers.
 */
const reported = new Set<string>();
function reportExportErrorOnce(err: unknown): void {
  const message = (err instanceof Error ? err.message : typeof err === "string" ? err : JSON.stringify(err)).slice(0, 300);
  const key = message.replace(/\d+/g, "#");
  if (reported.has(key)) return;
  reported.add(key);
  writeLogLine("warn", "telemetry export failed (is the OTLP collector reachable?); further identical errors are not logged", { err: message });
}

/** One pino-shaped line. (pino itself is not imported here: it must load after its instrumentation.) */
function writeLogLine(level: "warn" | "error", msg: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), service: "calsync", component: "otel", ...fields, msg })}\n`);
}

/** How long shutdown waits for the last spans and metrics to reach the collector. */
export const TELEMETRY_SHUTDOWN_TIMEOUT_MS = 2_000;

/**
 * Flushes and stops the SDK, waiting at most TELEMETRY_SHUTDOWN_TIMEOUT_MS: with an OTLP endpoint
 * configured and no collector listening, the exporters' own timeouts would hold SIGTERM for about
 * 10 s. What has not been sent by then is dropped, and one line says so.
 */
export async function stopTelemetry(timeoutMs = TELEMETRY_SHUTDOWN_TIMEOUT_MS): Promise<void> {
  const current = sdk;
  sdk = undefined;
  if (!current) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
    timer.unref();
  });
  const outcome = await Promise.race([current.shutdown().then(() => "done" as const, () => "done" as const), timedOut]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    writeLogLine("warn", "telemetry not flushed within the shutdown budget; unsent spans and metrics are dropped", { ms: timeoutMs });
  }
}
