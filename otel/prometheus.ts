/**
 * GET /metrics text: OpenTelemetry metrics in the Prometheus text format (0.0.4), named the way
 * Prometheus names things, so `promtool check metrics` passes on a real scrape.
 *
 * The OpenTelemetry Prometheus exporter (0.300) serialises instrument names as they are and writes
 * `# UNIT` lines, which only OpenMetrics knows; it has no option for unit suffixes (newer exporters
 * in other languages call this the "UnderscoreEscapingWithSuffixes" translation). So the collected
 * metrics are renamed here, following the OpenTelemetry → Prometheus compatibility rules, and then
 * serialised by the exporter's own PrometheusSerializer:
 *   - the unit becomes a suffix: s → _seconds, ms → _milliseconds, By → _bytes, 1 → _ratio (gauges),
 *     % → _percent; annotations such as {connection} add nothing; a name that already ends with
 *     the suffix keeps it (calsync's own `…_seconds` histograms);
 *   - the unit itself is dropped, so no `# UNIT` line is written;
 *   - a non-counter never ends in `_count`/`_total`/`_sum`/`_bucket` (Prometheus reserves them):
 *     `db.client.connection.count` becomes `db_client_connections`;
 *   - counters get `_total` from the serializer, after the unit: `…_time_seconds_total`.
 * OTLP export is untouched: collectors receive the semantic-convention names.
 */
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { DataPointType, type MetricData, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { prometheusExporter } from "./sdk.ts";

const UNIT_SUFFIX: Record<string, string> = {
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  min: "minutes",
  h: "hours",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  "%": "percent",
};

const isCounter = (m: MetricData) => m.dataPointType === DataPointType.SUM && m.isMonotonic;

/** The Prometheus name (before `_total`) of an OpenTelemetry instrument. */
export function prometheusName(name: string, unit: string, kind: "counter" | "gauge" | "histogram"): string {
  let base = name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/_+/g, "_");
  if (kind === "counter") base = base.replace(/_total$/, "");
  if (kind !== "counter" && kind !== "histogram") {
    // `x.count` of a gauge or up-down counter is "how many x there are": `xs`.
    if (base.endsWith("_count")) base = `${base.slice(0, -"_count".length)}s`;
    base = base.replace(/_(total|sum|bucket)$/, "");
  }
  const suffix = UNIT_SUFFIX[unit] ?? (unit === "1" && kind === "gauge" ? "ratio" : undefined);
  if (suffix && !base.endsWith(`_${suffix}`)) base = `${base}_${suffix}`;
  return base;
}

function renamed(metric: MetricData): MetricData {
  const kind = isCounter(metric) ? "counter" : metric.dataPointType === DataPointType.HISTOGRAM ? "histogram" : "gauge";
  const name = prometheusName(metric.descriptor.name, metric.descriptor.unit, kind);
  return { ...metric, descriptor: { ...metric.descriptor, name, unit: "" } } as MetricData;
}

const serializer = new PrometheusSerializer();

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Collects every instrument (observable gauges run their callbacks now) and serialises them. */
export async function prometheusText(): Promise<string> {
  const { resourceMetrics } = await prometheusExporter().collect();
  const translated: ResourceMetrics = {
    resource: resourceMetrics.resource,
    scopeMetrics: resourceMetrics.scopeMetrics.map((s) => ({ ...s, metrics: s.metrics.map(renamed) })),
  };
  return serializer.serialize(translated);
}
