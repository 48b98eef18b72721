/**
 * Loaded before any application module (`--import ./otel/register.ts`): registers the ESM loader
 * hook so instrumentations can patch ESM imports, then starts the OpenTelemetry SDK.
 */
import { register } from "node:module";
import { startTelemetry } from "./sdk.ts";

register("@opentelemetry/instrumentation/hook.mjs", import.meta.url);
startTelemetry();
