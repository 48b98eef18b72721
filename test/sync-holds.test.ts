/**
 * A full sync does not turn an orphan's event type into a duplicate service (src/orphans/claims.ts):
 * an unlinked Cal.com event type that an orphaned service may be the same offer as is held back
 * (SyncRun.heldForLinking / holds), its link suggestion stays, and once the orphan is linked,
 * exported or retired, the next sync imports what no orphan claims any more. Through GraphQL,
 * against the fake Cal.com, on the old system's data set.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { db } from "../src/db/client.ts";
import { MAX_SCORED_PAIRS } from "../src/orphans/claims.ts";
import { invalidateListing } from "../src/sync/listing-cache.ts";
import { connectedCompany, drainWithRetries, gid, startSyncHarness, syncViaGraphql, type SyncHarness } from "./support/sync.ts";
import { loadLegacy, serviceIds } from "./support/legacy.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());
beforeEach(() => {
  h.fake.clearFaults();
  invalidateListing();
});

const RUN = `query($id: ID!) {
  syncRun(id: $id) {
    status fetched created updated unchanged skipped heldForLinking error
    holds { calcomEventTypeId title score service { id name syncStatus calcomEventTypeId } }
  }
}`;
const COVERAGE = `query($id: ID!) { company(id: $id) { coverage { activeServices syncedServices neverSyncedServices coveragePercent } } }`;
const SUGGESTIONS = `query($id: ID!) { company(id: $id) { linkSuggestions { service { id } calcomEventTypeId score rank ambiguous } } }`;

interface Hold {
  calcomEventTypeId: number;
  title: string;
  score: number;
  service: { id: string; name: string; syncStatus: string; calcomEventTypeId: number | null } | null;
}

async function ok(query: string, variables: Record<string, unknown>) {
  const res = await h.t.gql(query, variables);
  expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
  return res.body.data;
}

/** A full sync through GraphQL, run to its end; the run as GraphQL shows it. */
async function sync(companyId: string) {
  const run = await syncViaGraphql(h.t, companyId);
  await drainWithRetries();
  const data = await ok(RUN, { id: run.id });
  return data.syncRun as { status: string; fetched: number; created: number; updated: number; unchanged: number; heldForLinking: number; error: string | null; holds: Hold[] };
}

async function suggestions(companyId: string) {
  invalidateListing(companyId);
  const data = await ok(SUGGESTIONS, { id: gid("Company", companyId) });
  return data.company.linkSuggestions as { service: { id: string }; calcomEventTypeId: number; score: number; rank: number; ambiguous: boolean }[];
}

async function coverage(companyId: string) {
  return (await ok(COVERAGE, { id: gid("Company", companyId) })).company.coverage as { activeServices: number; syncedServices: number; neverSyncedServices: number; coveragePercent: number };
}

describe("a full sync on the old system's catalogue (11 linked, 25 orphans, 19 unlinked event types on Cal.com)", () => {
  it("holds back every event type an orphan may be, keeps all suggestions, and creates no duplicate", async () => {
    const legacy = await loadLegacy(h.fake);
    const company = legacy.connected.id;
    const before = await suggestions(company);
    const ids = await serviceIds(company);
    const suggested = new Set(before.map((s) => s.calcomEventTypeId));
    // Every true match of the data set is among the suggestions (the orphan workflow's premise).
    for (const [externalId, eventTypeId] of Object.entries(legacy.expect.trueMatches)) {
      expect(before.some((s) => s.service.id === gid("Service", ids.get(externalId)!) && s.calcomEventTypeId === eventTypeId)).toBe(true);
    }

    const run = await sync(company);
    expect(run).toMatchObject({ status: "SUCCEEDED", fetched: 30, error: null });
    const held = new Set(run.holds.map((k) => k.calcomEventTypeId));
    expect(run.heldForLinking).toBe(held.size);
    // Every suggested event type is held, each for an orphan that still is one, with its score.
    for (const id of suggested) expect(held.has(id)).toBe(true);
    for (const k of run.holds) {
      expect(k.service).toMatchObject({ syncStatus: "NEVER_SYNCED", calcomEventTypeId: null });
      expect(k.score).toBeGreaterThanOrEqual(0.6);
    }
    // What no orphan claims is imported as before (e.g. "Teammeeting intern"), nothing else.
    expect(run.created).toBe(19 - held.size);
    expect(run.created).toBeGreaterThan(0);
    const services = await db().service.findMany({ where: { companyId: company }, select: { calcomEventTypeId: true, name: true } });
    expect(services).toHaveLength(36 + run.created);
    for (const id of held) expect(services.some((s) => s.calcomEventTypeId === id)).toBe(false);
    expect(services.some((s) => s.name === "Teammeeting intern")).toBe(true);

    // The suggestions are what they were before the sync.
    const after = await suggestions(company);
    expect(after.map((s) => [s.service.id, s.calcomEventTypeId, s.score, s.ambiguous])).toEqual(
      before.map((s) => [s.service.id, s.calcomEventTypeId, s.score, s.ambiguous]),
    );

    // Accepting above 0.9 links the same 12 as without a sync; the next sync holds only what
    // orphans still claim and updates nothing it should not.
    const accepted = await ok(
      `mutation($id: ID!) { acceptLinkSuggestions(companyId: $id, minScore: 0.9, dryRun: false) { calcomEventTypeId } }`,
      { id: gid("Company", company) },
    );
    expect(accepted.acceptLinkSuggestions).toHaveLength(Object.keys(legacy.expect.acceptedAtThreshold).length);
    // An event type only a now-linked orphan wanted (e.g. "Atemtherapie Gruppe", wanted by
    // "Atemtherapie" until it was linked to its own) is imported now.
    const second = await sync(company);
    const linkedNow = Object.values(legacy.expect.acceptedAtThreshold);
    expect(second).toMatchObject({ status: "SUCCEEDED", updated: 0, error: null, created: run.heldForLinking - linkedNow.length - second.heldForLinking });
    for (const k of second.holds) {
      expect(linkedNow).not.toContain(k.calcomEventTypeId);
      expect(held.has(k.calcomEventTypeId)).toBe(true);
    }

    // Retiring every orphan left: the next sync imports what they held.
    await ok(`mutation($id: ID!) { markOrphanedServicesLegacy(companyId: $id, dryRun: false) { count } }`, { id: gid("Company", company) });
    const third = await sync(company);
    expect(third).toMatchObject({ status: "SUCCEEDED", heldForLinking: 0, holds: [], created: second.heldForLinking });
    const cov = await coverage(company);
    expect(cov).toMatchObject({ neverSyncedServices: 0, coveragePercent: 100 });
  });

  it("an unlinked service keeps its event type through the next sync, which holds it for the service instead of duplicating it", async () => {
    const { company, eventTypes } = await connectedCompany(h.fake, [
      { title: "Hot Stone Massage", slug: "hot-stone-massage", lengthInMinutes: 60 },
      { title: "Fango", slug: "fango", lengthInMinutes: 20 },
    ]);
    const first = await sync(company.id);
    expect(first).toMatchObject({ status: "SUCCEEDED", created: 2, heldForLinking: 0 });
    const service = await db().service.findFirstOrThrow({ where: { companyId: company.id, calcomEventTypeId: eventTypes[0]!.id } });
    await ok(`mutation($id: ID!) { unlinkService(serviceId: $id) { id } }`, { id: gid("Service", service.id) });

    const second = await sync(company.id);
    expect(second).toMatchObject({ status: "SUCCEEDED", created: 0, heldForLinking: 1 });
    expect(second.holds).toEqual([
      { calcomEventTypeId: eventTypes[0]!.id, title: "Hot Stone Massage", score: 1, service: { id: gid("Service", service.id), name: "Hot Stone Massage", syncStatus: "NEVER_SYNCED", calcomEventTypeId: null } },
    ]);
    expect(await db().service.count({ where: { companyId: company.id } })).toBe(2);
    const metrics = await h.t.http().get("/metrics");
    expect(metrics.text).toMatch(/calsync_sync_event_types_held_for_linking_total(\{[^}]*\})? [1-9]/);
  });

  it("with more orphan × event type pairs than it scores, every unlinked event type waits (no duplicate is ever guessed at)", async () => {
    const eventTypeCount = 300;
    const orphanCount = Math.floor(MAX_SCORED_PAIRS / eventTypeCount) + 1;
    const { company } = await connectedCompany(h.fake, eventTypeCount);
    await db().service.createMany({
      data: Array.from({ length: orphanCount }, (_, i) => ({ companyId: company.id, name: `Offer ${i}`, slug: `offer-${i}`, durationMinutes: 30, syncStatus: "NEVER_SYNCED" as const })),
    });
    const run = await sync(company.id);
    expect(run).toMatchObject({ status: "SUCCEEDED", fetched: eventTypeCount, created: 0, heldForLinking: eventTypeCount });
    expect(run.holds).toHaveLength(100);
    expect(run.holds.every((k) => k.score === 0 && k.service !== null)).toBe(true);
  });
});
