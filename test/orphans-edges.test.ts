import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { db } from "../src/db/client.ts";
import { tuneCalcomClients } from "../src/calcom/for-company.ts";
import { invalidateListing } from "../src/sync/listing-cache.ts";
import { connectCompany, createCompany, createService } from "./factories.ts";
import { gid, startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { loadLegacy, serviceIds } from "./support/legacy.ts";

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

const EXPORT = `mutation($id: ID!) { exportServiceToCalcom(serviceId: $id) { id slug syncStatus calcomEventTypeId } }`;
const code = (res: { body: { errors?: { extensions: Record<string, unknown> }[] } }) => res.body.errors?.[0]?.extensions;

describe("export failures", () => {
  it("a create that fails on every attempt and is not on Cal.com leaves the attempt recorded; the next export finishes it", async () => {
    const legacy = await loadLegacy(h.fake);
    const serviceId = (await serviceIds(legacy.connected.id)).get("PAS-030")!;
    h.fake.fault({ path: "/v2/event-types", method: "POST", status: 503, times: 3 });
    const first = await h.t.gql(EXPORT, { id: gid("Service", serviceId) });
    expect(code(first)).toMatchObject({ code: "CALCOM_UNAVAILABLE" });
    expect(h.fake.requestsTo("/v2/event-types", "POST")).toHaveLength(3);
    expect(await db().service.findUniqueOrThrow({ where: { id: serviceId } })).toMatchObject({ exportSlug: "akupunktmassage-nach-penzel", calcomEventTypeId: null });

    const second = await h.t.gql(EXPORT, { id: gid("Service", serviceId) });
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data.exportServiceToCalcom).toMatchObject({ slug: "akupunktmassage-nach-penzel", syncStatus: "SYNCED" });
    expect(h.fake.requestsTo("/v2/event-types", "POST")).toHaveLength(4);
    expect(h.fake.eventTypes(legacy.apiKey).filter((et) => et.slug === "akupunktmassage-nach-penzel")).toHaveLength(1);
  });

  it("a create Cal.com refuses outright is CALCOM_REQUEST_REJECTED and forgets the slug", async () => {
    const legacy = await loadLegacy(h.fake);
    const serviceId = (await serviceIds(legacy.connected.id)).get("PAS-031")!;
    h.fake.fault({
      path: "/v2/event-types", method: "POST", status: 400,
      body: { status: "error", timestamp: new Date().toISOString(), path: "/v2/event-types", error: { code: "BadRequestException", message: "nope" } },
    });
    const res = await h.t.gql(EXPORT, { id: gid("Service", serviceId) });
    expect(code(res)).toMatchObject({ code: "CALCOM_REQUEST_REJECTED" });
    expect(res.body.errors[0].message).toContain("BadRequestException");
    const row = await db().service.findUniqueOrThrow({ where: { id: serviceId } });
    expect(row).toMatchObject({ exportSlug: null, calcomEventTypeId: null, syncStatus: "NEVER_SYNCED" });
    expect(row.syncError).toContain("export failed");
  });

  it("refuses services that cannot be exported, with typed errors and no call to Cal.com", async () => {
    const legacy = await loadLegacy(h.fake);
    const ids = await serviceIds(legacy.connected.id);
    const company = legacy.connected.id;
    const legacySvc = await createService(company, { syncStatus: "LEGACY" });
    const inactive = await createService(company, { isActive: false });
    const noDuration = await createService(company, { durationMinutes: null });
    for (const [id, expected] of [
      [ids.get("PAS-001")!, { code: "ALREADY_LINKED" }],
      [legacySvc.id, { code: "IS_LEGACY" }],
      [inactive.id, { code: "INACTIVE" }],
      [noDuration.id, { code: "BAD_USER_INPUT", field: "durationMinutes" }],
    ] as const) {
      expect(code(await h.t.gql(EXPORT, { id: gid("Service", id) }))).toMatchObject(expected);
    }
    expect(h.fake.requestsTo(/event-types/, "POST")).toHaveLength(0);
  });
});

describe("Cal.com refusing the key", () => {
  it("answers CALCOM_INVALID_CREDENTIALS for links and suggestions", async () => {
    const company = await createCompany();
    await connectCompany(company.id, "cal_test_unknown_to_the_fake");
    const orphan = await createService(company.id, { name: "Massage" });
    const link = await h.t.gql(`mutation($id: ID!) { linkService(serviceId: $id, calcomEventTypeId: 5) { id } }`, { id: gid("Service", orphan.id) });
    expect(code(link)).toMatchObject({ code: "CALCOM_INVALID_CREDENTIALS" });
    const sugg = await h.t.gql(`query($id: ID!) { company(id: $id) { linkSuggestions { score } } }`, { id: gid("Company", company.id) });
    expect(code(sugg)).toMatchObject({ code: "CALCOM_INVALID_CREDENTIALS" });
    tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 1 });
    try {
      h.fake.fault({ path: /event-types/, status: 429, resetSeconds: 120 });
      const limited = await h.t.gql(`mutation($id: ID!) { linkService(serviceId: $id, calcomEventTypeId: 5) { id } }`, { id: gid("Service", orphan.id) });
      expect(code(limited)).toMatchObject({ code: "CALCOM_UNAVAILABLE", retryAfterMs: 120_000 });
    } finally {
      tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20 });
    }
  });
});

describe("legacy services that are linked", () => {
  it("keep LEGACY when unlinked, and reactivate to SYNCED while linked", async () => {
    const legacy = await loadLegacy(h.fake);
    const id = (await serviceIds(legacy.connected.id)).get("PAS-002")!;
    await db().service.update({ where: { id }, data: { syncStatus: "LEGACY" } });
    const back = await h.t.gql(`mutation($id: ID!) { reactivateService(serviceId: $id) { syncStatus calcomEventTypeId } }`, { id: gid("Service", id) });
    expect(back.body.data.reactivateService).toEqual({ syncStatus: "SYNCED", calcomEventTypeId: 502 });
    await db().service.update({ where: { id }, data: { syncStatus: "LEGACY" } });
    const unlinked = await h.t.gql(`mutation($id: ID!) { unlinkService(serviceId: $id) { syncStatus calcomEventTypeId name } }`, { id: gid("Service", id) });
    // Linked by the import: the fields it had in the file come back too.
    expect(unlinked.body.data.unlinkService).toEqual({ syncStatus: "LEGACY", calcomEventTypeId: null, name: "Physiotherapie 60 min" });
  });
});
