/**
 * `npm run test:chaos`: real calsync processes killed with signals, a database stopped under
 * traffic, Cal.com faults during syncs, scale-out on one database (test/chaos/). Files run one at
 * a time: each starts several processes and a 2-core machine has no room for two such files.
 */
import { defineConfig } from "vitest/config";
import base from "./vitest.config.ts";

export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ["test/chaos/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/support/otel-setup.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
});
