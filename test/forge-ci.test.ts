/**
 * The GitHub Actions workflow a fork runs: npm ci and npm test against a PostgreSQL service, the
 * way .ci/run tests this repository (there on the embedded database).
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";

interface Step { run?: string; uses?: string; with?: Record<string, string> }
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, { services?: Record<string, { image: string; ports?: string[] }>; env?: Record<string, string>; steps: Step[] }>;
}

describe(".github/workflows/ci.yml", () => {
  it("runs npm ci and npm test against a PostgreSQL service on every push and pull request", () => {
    const wf = parse(readFileSync(".github/workflows/ci.yml", "utf8")) as Workflow;
    expect(Object.keys(wf.on)).toEqual(expect.arrayContaining(["push", "pull_request"]));
    const job = Object.values(wf.jobs)[0]!;
    const pg = Object.values(job.services ?? {}).find((s) => s.image.startsWith("postgres:"));
    expect(pg?.ports).toContain("5432:5432");
    expect(job.env?.["TEST_DATABASE_URL"]).toMatch(/^postgres:\/\/postgres:postgres@localhost:5432\//);
    const runs = job.steps.map((s) => s.run ?? "");
    const ci = runs.findIndex((r) => r.startsWith("npm ci"));
    const test = runs.findIndex((r) => r === "npm test");
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(test).toBeGreaterThan(ci);
    // The Node that runs npm is the one the project names.
    expect(job.steps.find((s) => s.uses?.startsWith("actions/setup-node"))?.with?.["node-version-file"]).toBe(".nvmrc");
    expect(runs.join("\n")).toContain("npm run docs:api -- --check");
  });
});
