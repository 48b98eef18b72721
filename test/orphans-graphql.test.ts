import { randomUUID } from "node:crypto";
import { decodeGlobalID } from "@pothos/plugin-relay";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { db } from "../src/db/client.ts";
import { tuneCalcomClients } from "../src/calcom/for-company.ts";
import { invalidateListing } from "../src/sync/listing-cache.ts";
import { gid, startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { loadLegacy, serviceIds } from "./support/legacy.ts";
import { legacyEventTypes, legacyServicesFile } from "../dev/data/legacy.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());
beforeEach(() => {
  h.fake.clearFaults();
  h.fake.clearLog();
  invalidateListing();
});

const COVERAGE = `query($id: ID!) { company(id: $id) { coverage { activeServices syncedServices neverSyncedServices legacyServices coveragePercent } } }`;
const SUGGESTIONS = `query($id: ID!) { company(id: $id) { linkSuggestions { service { id externalId name } calcomEventTypeId title slug lengthInMinutes score rank ambiguous } } }`;
const ACCEPT = `mutation($id: ID!, $min: Float!, $dry: Boolean) { acceptLinkSuggestions(companyId: $id, minScore: $min, dryRun: $dry) { service { externalId syncStatus calcomEventTypeId } calcomEventTypeId score } }`;
const LINK = `mutation($id: ID!, $et: Int!) { linkService(serviceId: $id, calcomEventTypeId: $et) { id name syncStatus calcomEventTypeId durationMinutes } }`;
const UNLINK = `mutation($id: ID!) { unlinkService(serviceId: $id) { id name syncStatus calcomEventTypeId durationMinutes } }`;
const EXPORT = `mutation($id: ID!) { exportServiceToCalcom(serviceId: $id) { id name slug syncStatus calcomEventTypeId syncError } }`;
const LEGACY = `mutation($id: ID!, $dry: Boolean) { markOrphanedServicesLegacy(companyId: $id, dryRun: $dry) { dryRun count services { externalId syncStatus } } }`;
const REACTIVATE = `mutation($id: ID!) { reactivateService(serviceId: $id) { id syncStatus } }`;
const AUDIT = `query($id: ID!) { company(id: $id) { auditEvents(first: 100) { totalCount edges { node { actor action details correlationId } } } } }`;

async function coverage(companyId: string) {
  const res = await h.t.gql(COVERAGE, { id: gid("Company", companyId) });
  expect(res.body.errors).toBeUndefined();
  return res.body.data.company.coverage as { coveragePercent: number; activeServices: number; syncedServices: number; neverSyncedServices: number; legacyServices: number };
}

async function ok(query: string, variables: Record<string, unknown>) {
  const res = await h.t.gql(query, variables);
  expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
  return res.body.data;
}

describe("the old system's data set, loaded through the import", () => {
  it("starts at 30.56 % with 11 synced and 25 orphans, and a second import changes nothing", async () => {
    const legacy = await loadLegacy(h.fake);
    expect(legacy.companies).toHaveLength(7);
    expect(legacy.imports[0]).toMatchObject({ created: 36, updated: 0, unchanged: 0, rejected: 0, linked: 11 });
    expect(await coverage(legacy.connected.id)).toEqual({
      activeServices: 36, syncedServices: 11, neverSyncedServices: 25, legacyServices: 0, coveragePercent: 30.56,
    });
    const again = await loadLegacy(h.fake, { suffix: legacy.suffix });
    expect(again.connected.id).toBe(legacy.connected.id);
    expect(again.imports[0]).toMatchObject({ created: 0, updated: 0, unchanged: 36, rejected: 0 });
    expect(await db().service.count({ where: { companyId: legacy.connected.id } })).toBe(36);
  });
});

describe("importServices over GraphQL", () => {
  it("brings the old catalogue in from nothing: create, connect, dry run, import; errors name line and field", async () => {
    const apiKey = `cal_test_${randomUUID().replaceAll("-", "")}`;
    h.fake.addApiKey(apiKey);
    h.fake.setEventTypes(apiKey, legacyEventTypes());
    const created = await ok(`mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id } }`, {
      input: { name: "Praxis am See", slug: `praxis-${randomUUID().slice(0, 8)}` },
    });
    const id = created.createCompany.id as string;
    await ok(`mutation($input: ConnectCalcomInput!) { connectCalcom(input: $input) { id } }`, {
      input: { companyId: id, apiKey, webhookSecret: "whsec_graphql_only_0123456789" },
    });
    const IMPORT = `mutation($id: ID!, $content: String!, $format: ServiceImportFormat!, $dry: Boolean) {
      importServices(companyId: $id, format: $format, content: $content, dryRun: $dry) {
        dryRun total created updated unchanged rejected linked errors { line field message externalId } rows { line externalId outcome serviceId linkedTo }
      }
    }`;
    const content = readFileSync(legacyServicesFile(), "utf8");
    const dry = await ok(IMPORT, { id, content, format: "CSV", dry: null });
    expect(dry.importServices).toMatchObject({ dryRun: true, total: 36, created: 36, rejected: 0, linked: 11 });
    const companyId = decodeGlobalID(id).id;
    expect(await db().service.count({ where: { companyId } })).toBe(0);
    const real = await ok(IMPORT, { id, content, format: "CSV", dry: false });
    expect(real.importServices).toMatchObject({ dryRun: false, created: 36, linked: 11 });
    expect(real.importServices.rows[0]).toMatchObject({ line: 2, externalId: "PAS-001", outcome: "CREATED", linkedTo: 501 });
    expect((await coverage(companyId)).coveragePercent).toBe(30.56);

    const bad = await ok(IMPORT, { id, format: "JSON", dry: false, content: JSON.stringify([{ externalId: "PAS-001", name: "X", calcomEventTypeId: 502 }, { name: "no key" }], null, 1) });
    expect(bad.importServices).toMatchObject({ created: 0, updated: 0, rejected: 2 });
    expect(bad.importServices.errors).toEqual([
      expect.objectContaining({ line: 2, field: "calcomEventTypeId", externalId: "PAS-001" }),
      expect.objectContaining({ line: 7, field: "externalId", externalId: null }),
    ]);
    const unreadable = await h.t.gql(IMPORT, { id, format: "JSON", content: "[{", dry: false });
    expect(unreadable.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "file" });
  });
});

describe("link suggestions", () => {
  it("rank the true match first, mark the ambiguous ones, and offer nothing for the rest", async () => {
    const legacy = await loadLegacy(h.fake);
    const { company: { linkSuggestions } } = await ok(SUGGESTIONS, { id: gid("Company", legacy.connected.id) });
    type S = { service: { externalId: string }; calcomEventTypeId: number; score: number; rank: number; ambiguous: boolean };
    const best = new Map<string, S>();
    for (const s of linkSuggestions as S[]) if (s.rank === 1) best.set(s.service.externalId, s);
    for (const [externalId, eventTypeId] of Object.entries(legacy.expect.trueMatches)) {
      expect(best.get(externalId)?.calcomEventTypeId, externalId).toBe(eventTypeId);
    }
    expect([...best.values()].filter((s) => s.ambiguous).map((s) => s.service.externalId).sort()).toEqual(legacy.expect.ambiguous);
    for (const externalId of legacy.expect.legacy) expect(best.has(externalId), externalId).toBe(false);
    // Linked event types are never offered; scores lie in 0..1, best first.
    expect((linkSuggestions as S[]).every((s) => s.calcomEventTypeId > 600 && s.score > 0 && s.score <= 1)).toBe(true);
    // The different duration costs the Triggerpunkt match its place above the threshold.
    expect(best.get("PAS-023")!.score).toBeLessThan(legacy.expect.acceptAbove);
    // The listing was read once (cache), with the version header.
    const listings = h.fake.requestsTo("/v2/event-types", "GET");
    expect(listings.length).toBeLessThanOrEqual(1);
  });

  it("accept at a threshold links exactly the expected services, dry run first", async () => {
    const legacy = await loadLegacy(h.fake);
    const id = gid("Company", legacy.connected.id);
    const dry = await ok(ACCEPT, { id, min: legacy.expect.acceptAbove, dry: null });
    const expected = Object.entries(legacy.expect.acceptedAtThreshold).sort();
    type A = { service: { externalId: string; syncStatus: string }; calcomEventTypeId: number };
    const pairs = (list: A[]) => list.map((a) => [a.service.externalId, a.calcomEventTypeId]).sort();
    expect(pairs(dry.acceptLinkSuggestions)).toEqual(expected);
    expect((dry.acceptLinkSuggestions as A[]).every((a) => a.service.syncStatus === "NEVER_SYNCED")).toBe(true);
    expect((await coverage(legacy.connected.id)).syncedServices).toBe(11);

    const done = await ok(ACCEPT, { id, min: legacy.expect.acceptAbove, dry: false });
    expect(pairs(done.acceptLinkSuggestions)).toEqual(expected);
    expect((done.acceptLinkSuggestions as A[]).every((a) => a.service.syncStatus === "SYNCED")).toBe(true);
    expect((await coverage(legacy.connected.id)).syncedServices).toBe(11 + expected.length);
    const ids = await serviceIds(legacy.connected.id);
    const linkedRows = await db().service.findMany({ where: { id: { in: expected.map(([e]) => ids.get(e as string)!) } } });
    for (const row of linkedRows) expect(row.calcomEventTypeId).toBe(legacy.expect.acceptedAtThreshold[row.externalId!]);
    // Each link has its audit row.
    const audits = await db().auditEvent.findMany({ where: { companyId: legacy.connected.id, action: "service.linked" } });
    expect(audits.filter((a) => (a.details as { source?: string }).source === "suggestion")).toHaveLength(expected.length);
  });
});

describe("export", () => {
  it("creates one event type even when the first attempt times out after Cal.com created it", async () => {
    const legacy = await loadLegacy(h.fake);
    const ids = await serviceIds(legacy.connected.id);
    const serviceId = ids.get("PAS-027")!;
    tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 400 });
    try {
      h.fake.fault({ path: "/v2/event-types", method: "POST", hangAfterHandling: true });
      const data = await ok(EXPORT, { id: gid("Service", serviceId) });
      expect(data.exportServiceToCalcom).toMatchObject({ name: "Medizinische Trainingstherapie", slug: "medizinische-trainingstherapie", syncStatus: "SYNCED", syncError: null });
    } finally {
      tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20 });
    }
    const posts = h.fake.requestsTo("/v2/event-types", "POST");
    expect(posts).toHaveLength(1);
    const onCalcom = h.fake.eventTypes(legacy.apiKey).filter((et) => et.slug === "medizinische-trainingstherapie");
    expect(onCalcom).toHaveLength(1);
    expect(onCalcom[0]).toMatchObject({ title: "Medizinische Trainingstherapie", lengthInMinutes: 60, description: "Gerätegestütztes Training" });
    const row = await db().service.findUniqueOrThrow({ where: { id: serviceId } });
    expect(row).toMatchObject({ calcomEventTypeId: onCalcom[0]!.id, exportSlug: null, syncStatus: "SYNCED" });
    const audit = await db().auditEvent.findFirstOrThrow({ where: { companyId: legacy.connected.id, action: "service.exported" } });
    expect(audit.details).toMatchObject({ serviceId, adopted: true, slug: "medizinische-trainingstherapie" });
  });

  it("a retry after a failed call adopts what the first call created", async () => {
    const legacy = await loadLegacy(h.fake);
    const serviceId = (await serviceIds(legacy.connected.id)).get("PAS-028")!;
    tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 400, maxAttempts: 1 });
    try {
      // The create lands but its answer is lost, and the look-up after it fails too.
      h.fake.fault({ path: "/v2/event-types", method: "POST", hangAfterHandling: true }, { path: "/v2/event-types", method: "GET", status: 503, skip: 1 });
      const first = await h.t.gql(EXPORT, { id: gid("Service", serviceId) });
      expect(first.body.errors[0].extensions.code).toBe("CALCOM_UNAVAILABLE");
      const pending = await db().service.findUniqueOrThrow({ where: { id: serviceId } });
      expect(pending).toMatchObject({ calcomEventTypeId: null, exportSlug: "schlingentisch", syncStatus: "NEVER_SYNCED" });
      expect(pending.syncError).toContain("export failed");

      const second = await ok(EXPORT, { id: gid("Service", serviceId) });
      expect(second.exportServiceToCalcom).toMatchObject({ syncStatus: "SYNCED", syncError: null });
    } finally {
      tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20 });
    }
    expect(h.fake.requestsTo("/v2/event-types", "POST")).toHaveLength(1);
    expect(h.fake.eventTypes(legacy.apiKey).filter((et) => et.slug === "schlingentisch")).toHaveLength(1);
  });

  it("picks a slug that is free on Cal.com, and uses the team's event types when the connection has a team", async () => {
    const legacy = await loadLegacy(h.fake, { teamId: 77 });
    const serviceId = (await serviceIds(legacy.connected.id)).get("PAS-025")!;
    await db().service.update({ where: { id: serviceId }, data: { slug: "massage" } }); // taken on Cal.com (615)
    const data = await ok(EXPORT, { id: gid("Service", serviceId) });
    expect(data.exportServiceToCalcom).toMatchObject({ slug: "massage-2", syncStatus: "SYNCED" });
    const posts = h.fake.requestsTo("/v2/teams/77/event-types", "POST");
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body).toMatchObject({ title: "Massage 30 Minuten", slug: "massage-2", lengthInMinutes: 30, schedulingType: "collective" });
  });
});

describe("from 30.56 % to 100 % with GraphQL alone", () => {
  it("suggestions, links by hand, export and legacy reach 100 %; every step is audited and undoable", async () => {
    const legacy = await loadLegacy(h.fake);
    const company = legacy.connected.id;
    const id = gid("Company", company);
    const ids = await serviceIds(company);
    const sid = (externalId: string) => gid("Service", ids.get(externalId)!);
    expect((await coverage(company)).coveragePercent).toBe(30.56);

    await ok(ACCEPT, { id, min: legacy.expect.acceptAbove, dry: false });
    for (const [externalId, eventTypeId] of Object.entries(legacy.expect.linkByHand)) {
      const { linkService } = await ok(LINK, { id: sid(externalId), et: eventTypeId });
      expect(linkService).toMatchObject({ syncStatus: "SYNCED", calcomEventTypeId: eventTypeId });
    }
    for (const externalId of legacy.expect.export) await ok(EXPORT, { id: sid(externalId) });

    const dry = await ok(LEGACY, { id, dry: null });
    expect(dry.markOrphanedServicesLegacy.dryRun).toBe(true);
    expect(dry.markOrphanedServicesLegacy.services.map((s: { externalId: string }) => s.externalId).sort()).toEqual(legacy.expect.legacy);
    expect((await coverage(company)).legacyServices).toBe(0); // the dry run changed nothing
    const marked = await ok(LEGACY, { id, dry: false });
    expect(marked.markOrphanedServicesLegacy.count).toBe(legacy.expect.legacy.length);

    expect(await coverage(company)).toEqual({
      activeServices: 31, syncedServices: 31, neverSyncedServices: 0, legacyServices: 5, coveragePercent: 100,
    });

    // The audit trail has every step, with the actor, before and after, and the correlation id.
    const audit = await ok(AUDIT, { id });
    type E = { actor: string; action: string; details: { serviceId?: string; before?: { syncStatus: string }; after?: { syncStatus: string }; undo?: string }; correlationId: string | null };
    const events = (audit.company.auditEvents.edges as { node: E }[]).map((e) => e.node);
    const count = (action: string) => events.filter((e) => e.action === action && e.actor === "admin").length;
    expect(count("service.linked")).toBe(12 + 2); // suggestions, by hand
    expect(events.filter((e) => e.action === "service.linked" && e.actor === "cli")).toHaveLength(11); // the import
    expect(count("service.exported")).toBe(legacy.expect.export.length);
    expect(count("service.marked_legacy")).toBe(legacy.expect.legacy.length);
    const legacyRow = events.find((e) => e.action === "service.marked_legacy")!;
    expect(legacyRow.details).toMatchObject({ before: { syncStatus: "NEVER_SYNCED" }, after: { syncStatus: "LEGACY" }, undo: "reactivateService" });
    expect(events.filter((e) => e.action.startsWith("service.") && e.actor === "admin").every((e) => e.correlationId)).toBe(true);

    // Undo: a link made from a suggestion, an export, and a legacy mark.
    const unlinked = await ok(UNLINK, { id: sid("PAS-012") });
    expect(unlinked.unlinkService).toMatchObject({ name: "Hot-Stone-Massage", syncStatus: "NEVER_SYNCED", calcomEventTypeId: null });
    const unexported = await ok(UNLINK, { id: sid("PAS-027") });
    expect(unexported.unlinkService).toMatchObject({ name: "Medizinische Trainingstherapie", syncStatus: "NEVER_SYNCED" });
    const hand = await ok(UNLINK, { id: sid("PAS-023") });
    expect(hand.unlinkService).toMatchObject({ durationMinutes: 30 }); // back from Cal.com's 45
    const reactivated = await ok(REACTIVATE, { id: sid("PAS-032") });
    expect(reactivated.reactivateService.syncStatus).toBe("NEVER_SYNCED");
    expect(await coverage(company)).toMatchObject({ activeServices: 32, syncedServices: 28, neverSyncedServices: 4, legacyServices: 4 });
    // …and redo: the unlinked event type is suggested again for its service.
    const again = await ok(SUGGESTIONS, { id });
    const hot = (again.company.linkSuggestions as { service: { externalId: string }; calcomEventTypeId: number; rank: number }[]).find(
      (s) => s.service.externalId === "PAS-012" && s.rank === 1,
    );
    expect(hot?.calcomEventTypeId).toBe(601);
  });
});
