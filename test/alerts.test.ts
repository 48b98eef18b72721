/**
 * The alert rules (otel/alerts.yml): each has a severity, a summary and a runbook link to a
 * section of docs/troubleshooting.md that exists; every metric a rule or a dashboard panel reads
 * exists at /metrics after real work (syncs, a failing company, webhooks, a reconcile that
 * recovers a missed booking). `promtool check rules` runs on the same file in .ci/run.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateBudget } from "../src/calcom/rate-budget.ts";
import { bookingCreated } from "./fixtures/webhooks.ts";
import { createWebhookSecret } from "./factories.ts";
import { connectedCompany, drainWithRetries, gid, startSyncHarness, syncViaGraphql, type SyncHarness } from "./support/sync.ts";
import { deliver, runWebhookJobs, scopedPath } from "./support/webhooks.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync("otel/alerts.yml", "utf8")) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const [, title] of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(title!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replaceAll(" ", "-"));
  }
  return out;
}

/** calsync metric families an expression reads (histogram series reduced to their family). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bcalsync_[a-z0-9_]+/g)].map(([m]) => m.replace(/_(bucket|sum|count)$/, ""));
}

describe("alert rules", () => {
  it("cover every condition the operators asked for, each with a severity, a summary and a runbook section", () => {
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining([
      "CalsyncWebhookSignatureFailures", "CalsyncWebhookUnavailable", "CalsyncWebhookEventsFailedPilingUp",
      "CalsyncWebhookEventsUnmatchedPilingUp", "CalsyncQueueLag", "CalsyncCompanySyncFailing", "CalsyncCalcomRateLimited",
      "CalsyncRateBudgetExhausted", "CalsyncCoverageDropping", "CalsyncBookingsRecovered", "CalsyncDown", "CalsyncDatabaseDown",
    ]));
    const guide = anchors(readFileSync("docs/troubleshooting.md", "utf8"));
    for (const rule of rules) {
      expect(["critical", "warning", "info"], rule.alert).toContain(rule.labels?.["severity"]);
      expect(rule.annotations?.["summary"], rule.alert).toBeTruthy();
      const link = /^docs\/troubleshooting\.md#(.+)$/.exec(rule.annotations?.["runbook_url"] ?? "");
      expect(link, `${rule.alert} runbook_url`).not.toBeNull();
      expect(guide.has(link![1]!), `${rule.alert}: docs/troubleshooting.md has no section #${link![1]}`).toBe(true);
    }
    // One section per alert (CalsyncQueueStalled shares CalsyncQueueLag's).
    for (const rule of rules.filter((r) => r.alert !== "CalsyncQueueStalled")) {
      expect(guide.has(rule.alert.toLowerCase()), `section for ${rule.alert}`).toBe(true);
    }
  });

  it("read only metrics that /metrics exposes after real work, as does every dashboard panel", async () => {
    // Syncs that succeed (Cal.com requests, sync runs, coverage) ...
    const { company, apiKey } = await connectedCompany(h.fake, 3);
    await syncViaGraphql(h.t, company.id);
    await drainWithRetries();
    // ... a company whose key Cal.com refuses, twice in a row (a failing streak) ...
    const { company: failing } = await connectedCompany(h.fake, 1);
    for (let i = 0; i < 2; i++) {
      h.fake.fault({ path: /event-types/, status: 401, body: { status: "error", error: { code: "UNAUTHORIZED", message: "Invalid API key" } } });
      await syncViaGraphql(h.t, failing.id);
      await drainWithRetries();
    }
    // ... calls that waited for the shared rate budget ...
    const budget = new RateBudget({ points: 2, periodMs: 200, maxJitterMs: 0 });
    for (let i = 0; i < 3; i++) await budget.acquire("alerts-test-key");
    // ... webhooks, accepted and refused ...
    const secret = await createWebhookSecret(company.id);
    expect((await deliver(h.t, scopedPath(company.id), bookingCreated({ uid: "alerts-1" }), { secret })).status).toBe(202);
    expect((await deliver(h.t, scopedPath(company.id), bookingCreated({ uid: "alerts-2" }), { secret: "wrong" })).status).toBe(401);
    await runWebhookJobs();
    // ... and a booking made while calsync was not listening, recovered by reconciliation.
    h.fake.addBookings(apiKey, [{ eventTypeId: 7001 }]);
    const reconcile = await h.t.gql(`mutation($id: ID!) { reconcileBookings(companyId: $id) { id } }`, { id: gid("Company", company.id) });
    expect(reconcile.body.errors).toBeUndefined();
    await drainWithRetries();

    const res = await h.t.http().get("/metrics");
    expect(res.status).toBe(200);
    const exposed = new Set([...res.text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})? /gm)].map(([, n]) => n!.replace(/_(bucket|sum|count)$/, "")));
    const dashboard = JSON.parse(readFileSync("otel/dashboard-metrics.json", "utf8")) as string[];
    const used = new Set([...rules.flatMap((r) => metricsIn(r.expr)), ...dashboard]);
    expect([...used].filter((m) => !exposed.has(m)).sort()).toEqual([]);
    const sum = (re: RegExp) => [...res.text.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
    expect(sum(/^calsync_sync_runs_total\{[^}]*trigger="MANUAL"[^}]*outcome="succeeded"[^}]*\} (\S+)$/gm)).toBeGreaterThan(0);
    expect(sum(/^calsync_calcom_requests_total\{[^}]*status="200"[^}]*\} (\S+)$/gm)).toBeGreaterThan(0);
    expect(sum(/^calsync_rate_budget_waits_total(?:\{[^}]*\})? (\S+)$/gm)).toBeGreaterThan(0);
    expect(sum(/^calsync_bookings_recovered_total\{[^}]*\} (\S+)$/gm)).toBeGreaterThan(0);
    // The failing company's streak is what CalsyncCompanySyncFailing reads.
    expect(res.text).toMatch(new RegExp(`^calsync_company_sync_consecutive_failures\\{company_id="${failing.id}"[^}]*\\} 2$`, "m"));
  });
});
