/**
 * GET /dashboard and its assets over HTTP: local files only, no inline script or style (a strict
 * CSP holds), and every GraphQL document the page sends is valid against the schema, so a renamed
 * field fails here rather than on an operator's screen. The screens themselves are tested in real
 * Chromium (test/browser/dashboard.test.ts, `npm run test:browser`).
 */
import { parse, validate } from "graphql";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { schema } from "../src/schema/index.ts";
import type { TestApp } from "./support/app.ts";
import { startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { loadLegacy } from "./support/legacy.ts";
import { createApiTokenFor, createCompany, createSyncRun, createWebhookEvent, seedLegacyShape } from "./factories.ts";

let h: SyncHarness;
let t: TestApp;
beforeAll(async () => {
  h = await startSyncHarness({ env: { TRACE_UI_URL: "http://127.0.0.1:16686/trace/{traceId}" } });
  t = h.t;
});
afterAll(async () => h.close());

const queries = (await import(new URL("../src/http/dashboard/queries.js", import.meta.url).href)) as Record<string, string>;

describe("GET /dashboard", () => {
  it("serves the page with a strict CSP, local assets only, and no inline script or style", async () => {
    const res = await t.http().get("/dashboard");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(res.headers["content-security-policy"]).not.toContain("unsafe-inline");
    expect(res.text).toContain("<title>calsync · dashboard</title>");
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(res.text).not.toMatch(/<style|style="/);
    expect(res.text).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    expect(res.text).toContain('content="http://127.0.0.1:16686/trace/{traceId}"');
    for (const [path, type] of [
      ["/dashboard/assets/app.js", /javascript/],
      ["/dashboard/assets/queries.js", /javascript/],
      ["/dashboard/assets/style.css", /text\/css/],
      ["/dashboard/assets/favicon.svg", /image\/svg/],
      ["/favicon.ico", /image\/svg/],
    ] as const) {
      const asset = await t.http().get(path);
      expect(asset.status, path).toBe(200);
      expect(asset.headers["content-type"], path).toMatch(type);
    }
    expect((await t.http().get("/dashboard/assets/nope.js")).status).toBe(404);
  });

  it("sends only GraphQL documents that are valid against the schema", () => {
    expect(Object.keys(queries).length).toBeGreaterThan(10);
    for (const [name, document] of Object.entries(queries)) {
      expect(validate(schema, parse(document)).map((e) => `${name}: ${e.message}`)).toEqual([]);
    }
  });

  it("sends only documents the API executes as sent (page sizes, cost and alias limits included)", async () => {
    const { connected } = await loadLegacy(h.fake);
    const id = encodeGlobalID("Company", connected.id);
    const run = await createSyncRun(connected.id, { status: "SUCCEEDED", finishedAt: new Date() });
    const event = await createWebhookEvent(connected.id);
    const reads: [string, Record<string, unknown>][] = [
      ["OVERVIEW", {}],
      ["COMPANY", { id }],
      ["SERVICES", { id, first: 100, after: null, filter: { syncStatus: ["SYNCED"], search: "synced" } }],
      ["SYNC_RUNS", { id }],
      ["WEBHOOK_EVENTS", { id, status: "FAILED", first: 100, after: null }],
      ["WEBHOOK_PAYLOAD", { id: encodeGlobalID("WebhookEvent", event.id) }],
      ["AUDIT", { id }],
      ["ORPHANS", { id }],
      ["SUGGESTIONS", { id }],
      ["ACCEPT_SUGGESTIONS", { id, minScore: 0.9, dryRun: true }],
      ["MARK_LEGACY", { id, dryRun: true }],
    ];
    for (const [name, variables] of reads) {
      const res = await t.gql(queries[name]!, variables);
      expect(res.status, name).toBe(200);
      expect(res.body.errors, `${name}: ${JSON.stringify(res.body.errors)}`).toBeUndefined();
    }
    expect(run.id).toBeTruthy();
  });

  it("its overview answers per company: coverage, last sync run, failed webhooks", async () => {
    const { connected } = await seedLegacyShape();
    await createSyncRun(connected.id, { status: "FAILED", error: "Cal.com unavailable", finishedAt: new Date() });
    await createWebhookEvent(connected.id, { status: "FAILED", lastError: "boom" });
    const res = await t.gql(queries["OVERVIEW"]!);
    expect(res.body.errors).toBeUndefined();
    const row = res.body.data.coverageReport.companies.find((c: { company: { slug: string } }) => c.company.slug === "legacy-0");
    expect(row.coverage.coveragePercent).toBe(30.56);
    expect(row.company.lastSyncRun).toMatchObject({ status: "FAILED", error: "Cal.com unavailable" });
    expect(row.company.failedWebhooks.totalCount).toBe(1);
  });

  it("shows a company token only its own company", async () => {
    const c = await createCompany({ slug: "solo" });
    const res = await t.gql(queries["OVERVIEW"]!, {}, await createApiTokenFor(c.id));
    expect(res.body.data.coverageReport.companies.map((x: { company: { slug: string } }) => x.company.slug)).toEqual(["solo"]);
  });
});

describe("GraphiQL", () => {
  it("is served from calsync's own assets (offline), without inline script or style", async () => {
    const page = await t.http().get("/graphql").set("accept", "text/html");
    expect(page.status).toBe(200);
    expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(page.text).not.toMatch(/<style/);
    expect(page.text).not.toMatch(/(unpkg|jsdelivr|cdn)\./);
    for (const file of ["graphiql.js", "graphiql.css", "boot.js", "favicon.svg", "worker-editorWorkerService.js", "worker-json.js", "worker-graphql.js"]) {
      const asset = await t.http().get(`/graphiql/assets/${file}`);
      expect(asset.status, file).toBe(200);
      expect(asset.body.length || asset.text.length, file).toBeGreaterThan(100);
    }
    expect((await t.http().get("/graphiql/assets/worker-nope.js")).status).toBe(404);
  });
});
