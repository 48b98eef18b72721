#!/usr/bin/env node
// `npx calsync <command>`: the TypeScript CLI with telemetry loaded first. Node 24 strips the
// types itself (the project's own Node, which npx finds first on PATH), so no launcher is loaded;
// an older Node on PATH falls back to tsx.
if (!process.features.typescript) {
  const { register } = await import("tsx/esm/api");
  register();
}
await import("../otel/register.ts");
const { main } = await import("../src/cli.ts");
await main(process.argv);
