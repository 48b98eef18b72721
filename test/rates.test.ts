/**
 * Sync success rate and webhook error rate over 24 h and 7 d, on known data: in GraphQL
 * (Company.rates, CoverageReport.rates, scoped for company tokens) and at /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { startTestApp, type TestApp } from "./support/app.ts";
import { createApiTokenFor, createCompany, createSyncRun, createWebhookEvent } from "./factories.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const HOUR = 3_600_000;
const ago = (hours: number) => new Date(Date.now() - hours * HOUR);

const RATES = `{ last24h { syncSuccessRate syncRunsFinished syncRunsFailed webhookErrorRate webhooksReceived webhooksFailed }
                 last7d { syncSuccessRate syncRunsFinished syncRunsFailed webhookErrorRate webhooksReceived webhooksFailed } }`;

/**
 * Company A, last 24 h: 3 runs SUCCEEDED, 1 FAILED, 1 still RUNNING (does not count);
 * 2-6 days ago: 1 SUCCEEDED, 3 FAILED; 8 days ago: 5 FAILED (outside both windows).
 * Webhooks, last 24 h: 8 PROCESSED, 1 FAILED, 1 INVALID, 1 IGNORED; 3 days ago: 4 PROCESSED, 3 FAILED;
 * 10 days ago: 2 FAILED (outside). Company B: nothing at all. One UNMATCHED delivery (no company) today.
 */
async function seed() {
  const a = await createCompany();
  const b = await createCompany();
  const run = (status: "SUCCEEDED" | "FAILED" | "RUNNING", hours: number) =>
    createSyncRun(a.id, { status, queuedAt: ago(hours + 0.1), finishedAt: status === "RUNNING" ? null : ago(hours) });
  for (const h of [1, 2, 3]) await run("SUCCEEDED", h);
  await run("FAILED", 4);
  await run("RUNNING", 0.5);
  await run("SUCCEEDED", 50);
  for (const h of [60, 100, 140]) await run("FAILED", h);
  for (let i = 0; i < 5; i++) await run("FAILED", 8 * 24 + i);
  const event = (status: "PROCESSED" | "FAILED" | "INVALID" | "IGNORED", hours: number) =>
    createWebhookEvent(a.id, { status, receivedAt: ago(hours) });
  for (let i = 0; i < 8; i++) await event("PROCESSED", 1 + i);
  await event("FAILED", 2);
  await event("INVALID", 3);
  await event("IGNORED", 4);
  for (let i = 0; i < 4; i++) await event("PROCESSED", 72 + i);
  for (let i = 0; i < 3; i++) await event("FAILED", 72 + i);
  for (let i = 0; i < 2; i++) await event("FAILED", 240 + i);
  await createWebhookEvent(null, { status: "UNMATCHED", receivedAt: ago(1) });
  return { a, b };
}

describe("rates over 24 h and 7 d", () => {
  it("computes the sync success rate and webhook error rate of a company, and null where nothing happened", async () => {
    const { a, b } = await seed();
    const res = await t.gql(`query($a: ID!, $b: ID!) { a: company(id: $a) { rates ${RATES} } b: company(id: $b) { rates ${RATES} } }`, {
      a: encodeGlobalID("Company", a.id),
      b: encodeGlobalID("Company", b.id),
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.a.rates).toEqual({
      last24h: { syncSuccessRate: 0.75, syncRunsFinished: 4, syncRunsFailed: 1, webhookErrorRate: 2 / 11, webhooksReceived: 11, webhooksFailed: 2 },
      last7d: { syncSuccessRate: 0.5, syncRunsFinished: 8, syncRunsFailed: 4, webhookErrorRate: 5 / 18, webhooksReceived: 18, webhooksFailed: 5 },
    });
    const quiet = { syncSuccessRate: null, syncRunsFinished: 0, syncRunsFailed: 0, webhookErrorRate: null, webhooksReceived: 0, webhooksFailed: 0 };
    expect(res.body.data.b.rates).toEqual({ last24h: quiet, last7d: quiet });

    // The admin's report covers the whole deployment, the unmatched delivery included; a company
    // token's report covers its own company only.
    const report = await t.gql(`{ coverageReport { rates ${RATES} } }`);
    expect(report.body.data.coverageReport.rates.last24h).toMatchObject({ syncRunsFinished: 4, webhooksReceived: 12, webhooksFailed: 2 });
    const token = await createApiTokenFor(b.id);
    const scoped = await t.gql(`{ coverageReport { rates ${RATES} } }`, {}, token);
    expect(scoped.body.data.coverageReport.rates).toEqual({ last24h: quiet, last7d: quiet });
  });

  it("exports the deployment's rates, failing streaks and stuck deliveries as metrics", async () => {
    const res = await t.http().get("/metrics");
    const sample = (name: string, labels: string) => {
      const m = new RegExp(`^${name}\\{${labels}[^}]*\\} (\\S+)$`, "m").exec(res.text);
      return m ? Number(m[1]) : undefined;
    };
    // The previous test's data (this file's database holds only it).
    expect(sample("calsync_sync_success_ratio", 'window="24h"')).toBe(0.75);
    expect(sample("calsync_sync_success_ratio", 'window="7d"')).toBe(0.5);
    expect(sample("calsync_webhook_error_ratio", 'window="24h"')).toBeCloseTo(2 / 12);
    expect(sample("calsync_webhook_error_ratio", 'window="7d"')).toBeCloseTo(5 / 19);
    expect(sample("calsync_database_up", "")).toBe(1);
    expect(sample("calsync_webhook_events", 'status="UNMATCHED"')).toBe(1);
    expect(sample("calsync_webhook_events", 'status="FAILED"')).toBe(6);
    // Company A: its last SUCCEEDED run (1 h ago) ended every earlier streak; the FAILED run 4 h
    // ago came before it. So no company has a streak yet.
    expect(res.text).not.toMatch(/^calsync_company_sync_consecutive_failures\{/m);
    const c = await createCompany({ slug: "streaky" });
    await createSyncRun(c.id, { status: "SUCCEEDED", finishedAt: ago(3) });
    await createSyncRun(c.id, { status: "FAILED", finishedAt: ago(2) });
    await createSyncRun(c.id, { status: "FAILED", finishedAt: ago(1) });
    const after = await t.http().get("/metrics");
    expect(after.text).toMatch(new RegExp(`^calsync_company_sync_consecutive_failures\\{company_id="${c.id}",company="streaky"[^}]*\\} 2$`, "m"));
  });
});
