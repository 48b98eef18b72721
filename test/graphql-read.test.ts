import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { startTestApp, type TestApp } from "./support/app.ts";
import {
  createApiTokenFor, createBooking, createCompany, createService, createServices, createSyncRun,
  createWebhookEvent, seedLegacyShape,
} from "./factories.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const gid = (type: string, id: string) => encodeGlobalID(type, id);

describe("coverage on the old system's data (7 companies, 1 connected, 36 services)", () => {
  it("reports 30.56 % for the connected company and in the totals, by SQL aggregate", async () => {
    const { connected } = await seedLegacyShape();
    const res = await t.gql(`{
      coverageReport {
        totalCompanies companiesUsingCalcom
        totals { totalServices activeServices syncedServices neverSyncedServices coveragePercent lastSyncedAt }
        companies { company { slug calcomConnected } coverage { coveragePercent neverSyncedServices } }
      }
    }`);
    expect(res.body.errors).toBeUndefined();
    const report = res.body.data.coverageReport;
    expect(report).toMatchObject({
      totalCompanies: 7,
      companiesUsingCalcom: 1,
      totals: { totalServices: 36, activeServices: 36, syncedServices: 11, neverSyncedServices: 25, coveragePercent: 30.56 },
    });
    expect(report.totals.lastSyncedAt).toBe("2026-11-20T12:10:00.000Z");
    const legacy0 = report.companies.find((c: { company: { slug: string } }) => c.company.slug === "legacy-0");
    expect(legacy0).toEqual({ company: { slug: "legacy-0", calcomConnected: true }, coverage: { coveragePercent: 30.56, neverSyncedServices: 25 } });
    const empty = report.companies.find((c: { company: { slug: string } }) => c.company.slug === "legacy-3");
    expect(empty.coverage.coveragePercent).toBe(0);

    const one = await t.gql(`query($id: ID!) { company(id: $id) { coverage { activeServices syncedServices coveragePercent } } }`, {
      id: gid("Company", connected.id),
    });
    expect(one.body.data.company.coverage).toEqual({ activeServices: 36, syncedServices: 11, coveragePercent: 30.56 });
  });

  it("scopes the report to the caller's company for a company token", async () => {
    const other = await createCompany();
    await createServices(other.id, 4, { syncStatus: "SYNCED", calcomEventTypeId: null });
    const token = await createApiTokenFor(other.id);
    const res = await t.gql(`{ coverageReport { totalCompanies totals { totalServices } companies { company { id } } } }`, {}, token);
    expect(res.body.data.coverageReport).toEqual({
      totalCompanies: 1,
      totals: { totalServices: 4 },
      companies: [{ company: { id: gid("Company", other.id) } }],
    });
  });

  it("leaves legacy services out of the active count and counts inactive ones as not active", async () => {
    const c = await createCompany();
    await createService(c.id, { syncStatus: "SYNCED", calcomEventTypeId: 1 });
    await createService(c.id, { syncStatus: "LEGACY" });
    await createService(c.id, { isActive: false });
    await createService(c.id, { syncStatus: "REMOTE_DELETED", calcomEventTypeId: 2 });
    const res = await t.gql(`query($id: ID!) { company(id: $id) { coverage {
      totalServices activeServices syncedServices legacyServices remoteDeletedServices neverSyncedServices coveragePercent } } }`,
    { id: gid("Company", c.id) });
    expect(res.body.data.company.coverage).toEqual({
      totalServices: 4, activeServices: 2, syncedServices: 1, legacyServices: 1, remoteDeletedServices: 1,
      neverSyncedServices: 0, coveragePercent: 50,
    });
  });
});

describe("services, pagination and filters", () => {
  it("pages through a company's services with stable cursors and a totalCount", async () => {
    const c = await createCompany();
    await createServices(c.id, 5);
    const q = `query($id: ID!, $after: String) { company(id: $id) { services(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { name } } } } }`;
    const names: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const res = await t.gql(q, { id: gid("Company", c.id), after });
      const conn = res.body.data.company.services;
      expect(conn.totalCount).toBe(5);
      names.push(...conn.edges.map((e: { node: { name: string } }) => e.node.name));
      pages++;
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(new Set(names).size).toBe(5);
    expect([...names].sort()).toEqual(names);
  });

  it("answers an empty page past the end and rejects a negative page size", async () => {
    const c = await createCompany();
    await createServices(c.id, 1);
    const first = await t.gql(`query($id: ID!) { company(id: $id) { services(first: 1) { pageInfo { endCursor } } } }`, { id: gid("Company", c.id) });
    const end = first.body.data.company.services.pageInfo.endCursor;
    const past = await t.gql(`query($id: ID!, $a: String) { company(id: $id) { services(first: 5, after: $a) { edges { node { id } } pageInfo { hasNextPage } } } }`,
      { id: gid("Company", c.id), a: end });
    expect(past.body.data.company.services).toEqual({ edges: [], pageInfo: { hasNextPage: false } });
    const negative = await t.gql(`query($id: ID!) { company(id: $id) { services(first: -1) { totalCount } } }`, { id: gid("Company", c.id) });
    expect(negative.body.errors[0].message).toMatch(/first/i);
  });

  it("filters by sync status, activity and a case-insensitive search", async () => {
    const c = await createCompany();
    await createService(c.id, { name: "Deep Tissue Massage", slug: "deep-tissue", syncStatus: "SYNCED", calcomEventTypeId: 10 });
    await createService(c.id, { name: "Haircut", slug: "haircut", syncStatus: "ERROR", syncError: "boom" });
    await createService(c.id, { name: "Old massage", slug: "old", isActive: false });
    const q = `query($id: ID!, $f: ServiceFilter) { company(id: $id) { services(filter: $f) { totalCount edges { node { name syncStatus syncError } } } } }`;
    const run = async (f: object) => (await t.gql(q, { id: gid("Company", c.id), f })).body.data.company.services;
    expect((await run({ search: "MASSAGE" })).totalCount).toBe(2);
    expect((await run({ search: "massage", isActive: true })).edges).toEqual([
      { node: { name: "Deep Tissue Massage", syncStatus: "SYNCED", syncError: null } },
    ]);
    expect((await run({ syncStatus: ["ERROR", "NEVER_SYNCED"] })).totalCount).toBe(2);
    expect((await run({ syncStatus: ["ERROR"] })).edges[0].node.syncError).toBe("boom");
  });

  it("resolves services, sync runs, webhook events and bookings by global id, and through node()", async () => {
    const c = await createCompany();
    const s = await createService(c.id, { locations: [{ type: "address", address: "Main St 1", public: true }] });
    const run = await createSyncRun(c.id, { status: "SUCCEEDED", fetched: 3, progress: 1 });
    const ev = await createWebhookEvent(c.id);
    await createBooking(c.id, { serviceId: s.id });
    const res = await t.gql(`query($s: ID!, $r: ID!, $e: ID!, $c: ID!) {
      service(id: $s) { id name locations company { slug } }
      syncRun(id: $r) { status fetched progress company { id } }
      webhookEvent(id: $e) { triggerEvent status duplicateCount }
      node(id: $s) { id ... on Service { name } }
      company(id: $c) { lastSyncRun { id } syncRuns { totalCount } webhookEvents { totalCount } bookings { edges { node { status service { name } } } } }
    }`, { s: gid("Service", s.id), r: gid("SyncRun", run.id), e: gid("WebhookEvent", ev.id), c: gid("Company", c.id) });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.service).toMatchObject({ name: s.name, locations: [{ type: "address", address: "Main St 1", public: true }], company: { slug: c.slug } });
    expect(res.body.data.syncRun).toEqual({ status: "SUCCEEDED", fetched: 3, progress: 1, company: { id: gid("Company", c.id) } });
    expect(res.body.data.webhookEvent).toEqual({ triggerEvent: "PING", status: "RECEIVED", duplicateCount: 0 });
    expect(res.body.data.node).toEqual({ id: gid("Service", s.id), name: s.name });
    expect(res.body.data.company.lastSyncRun.id).toBe(gid("SyncRun", run.id));
    expect(res.body.data.company.bookings.edges).toEqual([{ node: { status: "ACCEPTED", service: { name: s.name } } }]);
  });

  it("returns null for ids that name nothing, and a precise error for malformed ids", async () => {
    const missing = await t.gql(`query($id: ID!) { service(id: $id) { id } }`, { id: gid("Service", "00000000-0000-7000-8000-000000000000") });
    expect(missing.body).toEqual({ data: { service: null } });
    const notUuid = await t.gql(`query($id: ID!) { company(id: $id) { id } }`, { id: gid("Company", "42") });
    expect(notUuid.body).toEqual({ data: { company: null } });
    const garbage = await t.gql(`query { company(id: "%%%") { id } }`);
    expect(garbage.body.errors[0].message).not.toMatch(/Unexpected error/);
  });

  it("hides another company's services, runs and events from a company token", async () => {
    const mine = await createCompany();
    const theirs = await createCompany();
    const s = await createService(theirs.id);
    const run = await createSyncRun(theirs.id);
    const ev = await createWebhookEvent(theirs.id);
    const unmatched = await createWebhookEvent(null, { status: "UNMATCHED" });
    const token = await createApiTokenFor(mine.id);
    const res = await t.gql(`query($s: ID!, $r: ID!, $e: ID!, $u: ID!) {
      service(id: $s) { id } syncRun(id: $r) { id } webhookEvent(id: $e) { id } unmatched: webhookEvent(id: $u) { id } }`,
    { s: gid("Service", s.id), r: gid("SyncRun", run.id), e: gid("WebhookEvent", ev.id), u: gid("WebhookEvent", unmatched.id) }, token);
    expect(res.body.data).toEqual({ service: null, syncRun: null, webhookEvent: null, unmatched: null });
    expect(res.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(["FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"]);
  });
});

describe("mutations", () => {
  it("validates createCompany input and refuses a duplicate slug", async () => {
    const m = `mutation($input: CreateCompanyInput!) { createCompany(input: $input) { slug auditEvents { edges { node { action actor } } } } }`;
    const ok = await t.gql(m, { input: { name: "Zeta", slug: "zeta" } });
    expect(ok.body.data.createCompany).toEqual({ slug: "zeta", auditEvents: { edges: [{ node: { action: "company.created", actor: "admin" } }] } });
    const dup = await t.gql(m, { input: { name: "Zeta 2", slug: "zeta" } });
    expect(dup.body.errors[0].extensions.code).toBe("CONFLICT");
    const bad = await t.gql(m, { input: { name: "Bad", slug: "Not A Slug" } });
    expect(bad.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "slug" });
    const blank = await t.gql(m, { input: { name: "  ", slug: "blank" } });
    expect(blank.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "name" });
  });

  it("shows a new token once and stores only its hash; the token works at once", async () => {
    const c = await createCompany();
    const res = await t.gql(`mutation($id: ID!) { createApiToken(companyId: $id) { token prefix company { slug } } }`, { id: gid("Company", c.id) });
    const { token, prefix, company } = res.body.data.createApiToken;
    expect(token.startsWith(prefix)).toBe(true);
    expect(company.slug).toBe(c.slug);
    const { db } = await import("../src/db/client.ts");
    const stored = await db().apiToken.findFirstOrThrow({ where: { companyId: c.id } });
    expect(JSON.stringify(stored)).not.toContain(token);
    const me = await t.gql(`{ companies { edges { node { slug } } } }`, {}, token);
    expect(me.body.data.companies.edges).toEqual([{ node: { slug: c.slug } }]);
  });

  it("answers NOT_FOUND when an admin makes a token for a company that does not exist", async () => {
    const res = await t.gql(`mutation($id: ID!) { createApiToken(companyId: $id) { token } }`, { id: gid("Company", "00000000-0000-7000-8000-000000000000") });
    expect(res.body.errors[0].extensions.code).toBe("NOT_FOUND");
  });
});
