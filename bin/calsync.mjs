#!/usr/bin/env node
// `npx calsync <command>`: runs the TypeScript CLI through tsx, with telemetry loaded first.
import { register } from "tsx/esm/api";

register();
await import("../otel/register.ts");
const { main } = await import("../src/cli.ts");
await main(process.argv);
