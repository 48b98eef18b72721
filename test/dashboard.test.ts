import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.ts";
import { createApiTokenFor, createCompany, createSyncRun, createWebhookEvent, seedLegacyShape } from "./factories.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

/** The GraphQL document the page sends, read from the page itself. */
function dashboardQuery(html: string): string {
  const m = /const QUERY = `([\s\S]*?)`;/.exec(html);
  expect(m).not.toBeNull();
  return m![1]!;
}

describe("GET /dashboard", () => {
  it("serves an HTML page that reads the API with the caller's token", async () => {
    const res = await t.http().get("/dashboard");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.text).toContain("<title>calsync · dashboard</title>");
    expect(res.text).not.toMatch(/test-admin-token/);
  });

  it("its query answers per company: coverage, last sync run, failed webhooks", async () => {
    const query = dashboardQuery((await t.http().get("/dashboard")).text);
    const { connected } = await seedLegacyShape();
    await createSyncRun(connected.id, { status: "FAILED", error: "Cal.com unavailable", finishedAt: new Date() });
    await createWebhookEvent(connected.id, { status: "FAILED", lastError: "boom" });
    const res = await t.gql(query);
    expect(res.body.errors).toBeUndefined();
    const row = res.body.data.coverageReport.companies.find((c: { company: { slug: string } }) => c.company.slug === "legacy-0");
    expect(row.coverage.coveragePercent).toBe(30.56);
    expect(row.company.lastSyncRun).toMatchObject({ status: "FAILED", error: "Cal.com unavailable" });
    expect(row.company.webhookEvents.totalCount).toBe(1);
  });

  it("shows a company token only its own company", async () => {
    const query = dashboardQuery((await t.http().get("/dashboard")).text);
    const c = await createCompany({ slug: "solo" });
    const res = await t.gql(query, {}, await createApiTokenFor(c.id));
    expect(res.body.data.coverageReport.companies.map((x: { company: { slug: string } }) => x.company.slug)).toEqual(["solo"]);
  });
});
