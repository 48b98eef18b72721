import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

/**
 * `npm run test:browser`: the dashboard and GraphiQL in real headless Chromium (Debian's
 * `chromium`, driven by playwright-core). Separate from `npm test`, which must pass on a machine
 * with only `npm install` done; `.ci/run` installs Chromium and runs this as its own step.
 */
export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }] },
  test: {
    include: ["test/browser/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/support/otel-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: "forks",
    fileParallelism: false,
    // expect.poll waits for what the page shows after a click; its 1 s default is too short on a
    // busy 2-core CI machine (an undo's coverage refresh missed it once). Waiting longer asserts
    // nothing about speed: it only stops a slow machine from failing a correct page.
    expect: { poll: { timeout: 15_000 } },
  },
});
