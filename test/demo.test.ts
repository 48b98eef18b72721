/**
 * `npm run demo` as a new user meets it: on a DATA_DIR that does not exist yet (as after a fresh
 * clone), it is ready well within a minute with the old system's companies, and its figures move
 * on their own (signed webhooks arrive, bookings appear, /metrics counts them).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { OtlpReceiver } from "./support/otlp-receiver.ts";

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const base = mkdtempSync(join(tmpdir(), "calsync-demo-"));
chmodSync(base, 0o755);
const dataDir = join(base, "demo-data");
let demo: ChildProcessWithoutNullStreams | undefined;
const otlp = new OtlpReceiver();
let otlpUrl = "";
beforeAll(async () => {
  otlpUrl = await otlp.start();
});
afterAll(async () => {
  await otlp.close();
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    demo.kill("SIGINT");
    await new Promise((r) => demo!.once("exit", r));
  }
  rmSync(base, { recursive: true, force: true });
});

/** Starts the demo as `npm run demo` does; resolves with what it printed once it is ready. */
function startDemo(): Promise<{ url: string; token: string; output: string }> {
  demo = spawn(process.execPath, ["--import", "./otel/register.ts", "dev/demo/main.ts", "--reset"], {
    env: {
      PATH: process.env["PATH"], DATA_DIR: dataDir, PORT: "0", DEMO_WEBHOOK_INTERVAL_MS: "300",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    },
  });
  let out = "";
  demo.stderr.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    // The promise: ready within a minute (the test's budget, not a benchmark).
    const limit = setTimeout(() => reject(new Error(`demo not ready within 60 s:\n${out}`)), 60_000);
    demo!.stdout.on("data", (d) => {
      out += d;
      const ready = out.indexOf("calsync demo ready in");
      const guide = ready >= 0 ? out.slice(ready) : "";
      const url = /Dashboard:\s+(http:\/\/\S+)\/dashboard/.exec(guide)?.[1];
      const token = /Admin token:\s+(\S+)/.exec(guide)?.[1];
      if (url && token) {
        clearTimeout(limit);
        resolve({ url, token, output: out });
      }
    });
    demo!.once("exit", (code) => reject(new Error(`demo exited (${code}):\n${out}`)));
  });
}

describe("npm run demo", () => {
  it("is ready within a minute on a fresh DATA_DIR, with the old system's catalogue, and its figures move", async () => {
    const { url, token, output } = await startDemo();
    expect(output).toContain("Try:");
    const gql = async (query: string) => {
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query }),
      });
      const body = (await res.json()) as { data: Record<string, unknown>; errors?: unknown };
      expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
      return body.data;
    };

    const { coverageReport } = (await gql(
      "{ coverageReport { totalCompanies companiesUsingCalcom companies { company { name calcomConnected } coverage { activeServices syncedServices neverSyncedServices coveragePercent lastSyncedAt } } } }",
    )) as { coverageReport: { totalCompanies: number; companiesUsingCalcom: number; companies: { company: { name: string; calcomConnected: boolean }; coverage: { activeServices: number; syncedServices: number; neverSyncedServices: number; coveragePercent: number; lastSyncedAt: string | null } }[] } };
    expect(coverageReport.totalCompanies).toBe(7);
    expect(coverageReport.companiesUsingCalcom).toBe(1);
    const connected = coverageReport.companies.find((c) => c.company.calcomConnected)!;
    expect(connected.company.name).toBe("Praxis am See");
    expect(connected.coverage).toMatchObject({ activeServices: 36, syncedServices: 11, neverSyncedServices: 25, coveragePercent: 30.56 });
    // Its linked services were just synced from the stand-in.
    expect(Date.now() - Date.parse(connected.coverage.lastSyncedAt!)).toBeLessThan(5 * 60_000);

    // The trickle: webhook events and bookings keep arriving, and /metrics counts them.
    const counts = async () => {
      const data = (await gql("{ companies { edges { node { webhookEvents(first: 0) { totalCount } bookings(first: 0) { totalCount } } } } }")) as {
        companies: { edges: { node: { webhookEvents: { totalCount: number }; bookings: { totalCount: number } } }[] };
      };
      return data.companies.edges.reduce((n, e) => ({ events: n.events + e.node.webhookEvents.totalCount, bookings: n.bookings + e.node.bookings.totalCount }), { events: 0, bookings: 0 });
    };
    const first = await counts();
    await expect.poll(async () => (await counts()).events, { timeout: 30_000, interval: 500 }).toBeGreaterThan(first.events + 3);
    await expect.poll(async () => (await counts()).bookings, { timeout: 30_000, interval: 500 }).toBeGreaterThan(0);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/calsync_webhook\w*_total\{[^}]*\} [1-9]/);

    // OTEL_EXPORTER_OTLP_ENDPOINT is honoured: the webhooks' traces reach the collector, and the
    // dashboard links trace ids to Jaeger by default.
    expect(output).toContain(`Traces:       exported to ${otlpUrl}`);
    await otlp.waitFor((spans) => spans.some((sp) => sp.attributes["calsync.company_id"] !== undefined && /webhook/i.test(sp.name)));
    const page = await (await fetch(`${url}/dashboard`)).text();
    expect(page).toContain('content="http://localhost:16686/trace/{traceId}"');
  });
});
