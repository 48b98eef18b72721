/**
 * Every test worker runs the real OpenTelemetry SDK with an in-memory exporter, so tests can
 * assert on the spans the code under test makes (`spanExporter().getFinishedSpans()`).
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { startTelemetry } from "../../otel/sdk.ts";

const g = globalThis as { __calsyncSpanExporter?: InMemorySpanExporter };
if (!g.__calsyncSpanExporter) {
  g.__calsyncSpanExporter = new InMemorySpanExporter();
  startTelemetry({ spanProcessors: [new SimpleSpanProcessor({ exporter: g.__calsyncSpanExporter })] });
}

export function spanExporter(): InMemorySpanExporter {
  return g.__calsyncSpanExporter!;
}
