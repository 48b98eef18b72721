/**
 * OpenTelemetry SDK bootstrap. `register.ts` calls this before any application module loads;
 * tests call it with an in-memory exporter.
 *
 * Exporters come from the standard OTEL_* variables (OTEL_TRACES_EXPORTER,
 * OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL incl. http/json, …): the SDK reads
 * them itself. With none configured nothing is exported and nothing is logged.
 */
import { NodeSDK } from "@opentelemetry/sdk-node";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import { getNodeAutoInstrumentations } from "@opentelemetry/auto-instrumentations-node";
import { PrismaInstrumentation } from "@prisma/instrumentation";

export interface TelemetryOptions {
  /** Replaces the exporters chosen by OTEL_TRACES_EXPORTER (tests). */
  spanProcessors?: SpanProcessor[];
}

let sdk: NodeSDK | undefined;

export function startTelemetry(options: TelemetryOptions = {}): NodeSDK {
  if (sdk) return sdk;
  sdk = new NodeSDK({
    serviceName: process.env["OTEL_SERVICE_NAME"] ?? "calsync",
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    instrumentations: [
      getNodeAutoInstrumentations({
        "@opentelemetry/instrumentation-fs": { enabled: false },
        "@opentelemetry/instrumentation-dns": { enabled: false },
        "@opentelemetry/instrumentation-net": { enabled: false },
        // graphile-worker polls the queue; without a parent those queries would each be a trace.
        "@opentelemetry/instrumentation-pg": { requireParentSpan: true },
      }),
      new PrismaInstrumentation(),
    ],
  });
  sdk.start();
  return sdk;
}

export async function stopTelemetry(): Promise<void> {
  await sdk?.shutdown().catch(() => {});
  sdk = undefined;
}
