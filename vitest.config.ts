import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);

export default defineConfig({
  // graphql 16 has no `exports` map: without this, test code and Yoga load two copies and every
  // GraphQLError thrown in a resolver is masked as "Unexpected error.".
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }] },
  test: {
    globalSetup: ["./test/global-setup.ts"],
    setupFiles: ["./test/support/otel-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Browser tests need Chromium (not part of npm install): `npm run test:browser`. The chaos
    // suite has its own config too (vitest.chaos.config.ts, `npm run test:chaos`).
    exclude: ["**/node_modules/**", "test/browser/**", "test/chaos/**"],
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      exclude: ["src/generated/**", "src/cli.ts", "src/main.ts"],
      thresholds: { lines: 80, branches: 80 },
      reporter: ["text-summary"],
    },
  },
});
