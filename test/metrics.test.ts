import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, type TestApp } from "./support/app.ts";
import { startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { resetGaugeCache } from "../src/http/metrics.ts";
import { deliver, runWebhookJobs, scopedPath } from "./support/webhooks.ts";
import { bookingCreated, ping } from "./fixtures/webhooks.ts";
import { createCompany, createWebhookSecret, seedLegacyShape } from "./factories.ts";

let h: SyncHarness;
let t: TestApp;
beforeAll(async () => {
  h = await startSyncHarness();
  t = h.t;
});
afterAll(async () => h.close());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition strictly enough to fail on malformed lines. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ") || line.startsWith("# UNIT ")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:[0-9.]+(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** A scrape that sees the database as it is now (the gauges are otherwise cached for 15 s). */
async function scrape(): Promise<Sample[]> {
  resetGaugeCache();
  const res = await t.http().get("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers["content-type"]).toMatch(/^text\/plain/);
  return parsePrometheus(res.text);
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

describe("GET /metrics", () => {
  it("parses as Prometheus text, and the webhook counters move as deliveries arrive", async () => {
    const company = await createCompany();
    const secret = await createWebhookSecret(company.id);
    const path = "/webhooks/calcom/:companyId";
    const before = await scrape();

    const body = bookingCreated({ uid: "metrics-1" });
    expect((await deliver(t, scopedPath(company.id), body, { secret })).status).toBe(202);
    expect((await deliver(t, scopedPath(company.id), body, { secret })).body.duplicate).toBe(true);
    expect((await deliver(t, scopedPath(company.id), ping(), { secret: "wrong-secret" })).status).toBe(401);
    await runWebhookJobs();

    const after = await scrape();
    const delta = (outcome: string) =>
      value(after, "calsync_webhooks_received_total", { outcome, path }) - value(before, "calsync_webhooks_received_total", { outcome, path });
    expect(delta("accepted")).toBe(1);
    expect(delta("duplicate")).toBe(1);
    expect(delta("invalid_signature")).toBe(1);
    const count = (s: Sample[]) => value(s, "calsync_webhook_ingest_duration_seconds_count");
    expect(count(after) - count(before)).toBe(3);
    const jobs = (s: Sample[]) => value(s, "calsync_jobs_total", { task: "process_webhook_event", outcome: "success" });
    expect(jobs(after) - jobs(before)).toBe(1);
    expect(value(after, "calsync_webhook_processing_lag_seconds_count")).toBeGreaterThan(0);
  });

  it("follows Prometheus conventions: unit suffixes, no # UNIT lines, no _count gauges, routes as labels, no process details", async () => {
    const company = await createCompany();
    const secret = await createWebhookSecret(company.id);
    expect((await deliver(t, scopedPath(company.id), ping(), { secret })).status).toBe(202);
    await runWebhookJobs();
    await t.http().post("/graphql").set("authorization", `Bearer ${ADMIN_TOKEN}`).send({ query: "{ companies(first: 1) { totalCount } }" });
    const res = await t.http().get("/metrics");
    expect(res.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(res.text).not.toMatch(/^# UNIT /m);
    const types = new Map([...res.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    const misnamed = [...types].filter(([name, type]) =>
      type === "counter" ? !name.endsWith("_total") : /_(count|total|sum|bucket)$/.test(name));
    expect(misnamed).toEqual([]);
    expect(types.get("http_server_request_duration_seconds")).toBe("histogram");
    expect(types.get("db_client_operation_duration_seconds")).toBe("histogram");
    expect(types.get("db_client_connections")).toBe("gauge");
    expect(types.get("calsync_coverage_ratio")).toBe("gauge");
    const samples = parsePrometheus(res.text);
    const routes = new Set(samples.filter((s) => s.name === "http_server_request_duration_seconds_count").map((s) => s.labels["http_route"]));
    expect(routes).toContain("/webhooks/calcom/:companyId");
    expect(routes).toContain("/graphql");
    // The concrete URL (with the company id) never becomes a label.
    expect(res.text).not.toContain(encodeURIComponent(scopedPath(company.id).split("/").pop()!));
    const target = samples.find((s) => s.name === "target_info");
    expect(target?.labels["service_name"]).toBe("calsync");
    expect(Object.keys(target?.labels ?? {}).filter((k) => /^process_(command|executable|owner)/.test(k))).toEqual([]);
  });

  it("reports coverage per company and the job queue from the database", async () => {
    const { connected } = await seedLegacyShape();
    const samples = await scrape();
    const coverage = samples.find((s) => s.name === "calsync_coverage_ratio" && s.labels["company_id"] === connected.id);
    expect(coverage).toMatchObject({ labels: { company: "legacy-0" }, value: 0.3056 });
    expect(samples.some((s) => s.name === "calsync_queue_oldest_due_age_seconds")).toBe(true);
  });

  // "Every metric the dashboard (and every alert rule) reads exists after real work": test/alerts.test.ts.

  it("the Grafana dashboard and compose files parse, and the dashboard queries only metrics calsync defines", async () => {
    const dashboard = JSON.parse(readFileSync("otel/grafana/dashboards/calsync.json", "utf8")) as { panels: { targets?: { expr?: string }[] }[] };
    const listed = JSON.parse(readFileSync("otel/dashboard-metrics.json", "utf8")) as string[];
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        if (!target.expr) continue;
        for (const [name] of target.expr.matchAll(/calsync_[a-z_]+/g)) queried.add(name.replace(/_(bucket|sum|count)$/, ""));
      }
    }
    expect([...queried].sort()).toEqual([...listed].sort());
    // From the dashboard to a trace: a Tempo panel over calsync's webhook requests.
    const tracePanel = (dashboard.panels as { datasource?: { uid?: string }; targets?: { query?: string }[] }[])
      .find((p) => p.datasource?.uid === "tempo");
    expect(tracePanel?.targets?.[0]?.query).toContain('resource.service.name = "calsync"');
    const sources = (await import("yaml")).parse(readFileSync("otel/grafana/provisioning/datasources/datasources.yaml", "utf8")) as {
      datasources: { uid: string }[];
    };
    expect(sources.datasources.map((s) => s.uid)).toEqual(expect.arrayContaining(["prometheus", "tempo", "jaeger"]));
    const { parse } = await import("yaml");
    for (const f of ["otel/docker-compose.yml", "otel/collector.yaml", "otel/prometheus.yml", "otel/tempo.yaml",
      "otel/grafana/provisioning/datasources/datasources.yaml", "otel/grafana/provisioning/dashboards/dashboards.yaml"]) {
      expect(parse(readFileSync(f, "utf8")), f).toBeTypeOf("object");
    }
    const source = readFileSync("src/metrics.ts", "utf8") + readFileSync("src/http/metrics.ts", "utf8") + readFileSync("src/http/ops-metrics.ts", "utf8");
    for (const name of listed) {
      const base = name.replace(/_total$/, "");
      expect(source, `${name} is defined`).toContain(`"${base}"`);
    }
  });
});
