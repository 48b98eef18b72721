import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { db } from "../src/db/client.ts";
import { invalidateListing } from "../src/sync/listing-cache.ts";
import { createApiTokenFor, createCompany } from "./factories.ts";
import { gid, startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { loadLegacy, serviceIds } from "./support/legacy.ts";
import { spanExporter } from "./support/otel-setup.ts";

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

const CREATE = `mutation($input: CreateServiceInput!) { createService(input: $input) { id name slug durationMinutes currency isActive externalId syncStatus calcomEventTypeId company { id } } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateServiceInput!) { updateService(id: $id, input: $input) { id name durationMinutes isActive externalId syncStatus } }`;
const LINK = `mutation($id: ID!, $et: Int!) { linkService(serviceId: $id, calcomEventTypeId: $et) { id syncStatus } }`;

describe("createService and updateService", () => {
  it("create a NEVER_SYNCED orphan, validate every field, and keep externalId unique per company", async () => {
    const company = await createCompany();
    const token = await createApiTokenFor(company.id);
    const input = { companyId: gid("Company", company.id), name: "  Massage ", slug: "massage", durationMinutes: 30, currency: "EUR", externalId: "M-1" };
    const res = await h.t.gql(CREATE, { input }, token);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.createService).toMatchObject({
      name: "Massage", slug: "massage", durationMinutes: 30, currency: "eur", isActive: true, externalId: "M-1",
      syncStatus: "NEVER_SYNCED", calcomEventTypeId: null, company: { id: gid("Company", company.id) },
    });
    const coverage = await h.t.gql(`query($id: ID!) { company(id: $id) { coverage { neverSyncedServices } } }`, { id: gid("Company", company.id) });
    expect(coverage.body.data.company.coverage.neverSyncedServices).toBe(1);

    const dup = await h.t.gql(CREATE, { input: { ...input, name: "Other" } }, token);
    expect(dup.body.errors[0].extensions.code).toBe("CONFLICT");
    // The same externalId in another company is fine.
    const other = await createCompany();
    expect((await h.t.gql(CREATE, { input: { ...input, companyId: gid("Company", other.id) } })).body.errors).toBeUndefined();

    for (const [field, value] of [["name", " "], ["slug", "Not A Slug"], ["durationMinutes", 0], ["priceMinor", -1], ["currency", "EURO"], ["externalId", "x".repeat(201)]] as const) {
      const bad = await h.t.gql(CREATE, { input: { ...input, externalId: `X-${field}`, [field]: value } }, token);
      expect(bad.body.errors?.[0]?.extensions, field).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    expect(await db().service.count({ where: { companyId: company.id } })).toBe(1);

    const id = res.body.data.createService.id as string;
    const updated = await h.t.gql(UPDATE, { id, input: { durationMinutes: 45, isActive: false, externalId: "M-2" } }, token);
    expect(updated.body.errors).toBeUndefined();
    expect(updated.body.data.updateService).toMatchObject({ name: "Massage", durationMinutes: 45, isActive: false, externalId: "M-2" });
    const audit = await db().auditEvent.findFirstOrThrow({ where: { companyId: company.id, action: "service.updated" } });
    expect(audit.actor).toMatch(/^token:/);
    expect(audit.details).toMatchObject({ before: { durationMinutes: 30, isActive: true }, after: { durationMinutes: 45, isActive: false } });
    const badUpdate = await h.t.gql(UPDATE, { id, input: { name: null } }, token);
    expect(badUpdate.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "name" });
  });

  it("refuse to edit the fields Cal.com owns on a linked service, and link errors are typed", async () => {
    const legacy = await loadLegacy(h.fake);
    const ids = await serviceIds(legacy.connected.id);
    const linked = gid("Service", ids.get("PAS-001")!);
    const res = await h.t.gql(UPDATE, { id: linked, input: { name: "Physio" } });
    expect(res.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "name" });
    expect((await h.t.gql(UPDATE, { id: linked, input: { externalId: "PAS-001-new" } })).body.errors).toBeUndefined();

    const orphan = gid("Service", ids.get("PAS-012")!);
    const taken = await h.t.gql(LINK, { id: orphan, et: 501 });
    expect(taken.body.errors[0].extensions).toMatchObject({ code: "EVENT_TYPE_ALREADY_LINKED", serviceId: linked });
    const foreign = await h.t.gql(LINK, { id: orphan, et: 424242 });
    expect(foreign.body.errors[0].extensions.code).toBe("EVENT_TYPE_NOT_FOUND");
    const unlinkOrphan = await h.t.gql(`mutation($id: ID!) { unlinkService(serviceId: $id) { id } }`, { id: orphan });
    expect(unlinkOrphan.body.errors[0].extensions.code).toBe("NOT_LINKED");
    const notLegacy = await h.t.gql(`mutation($id: ID!) { reactivateService(serviceId: $id) { id } }`, { id: orphan });
    expect(notLegacy.body.errors[0].extensions.code).toBe("NOT_LEGACY");
    const unconnected = await createCompany();
    const lone = await h.t.gql(CREATE, { input: { companyId: gid("Company", unconnected.id), name: "Solo", durationMinutes: 30 } });
    const exp = await h.t.gql(`mutation($id: ID!) { exportServiceToCalcom(serviceId: $id) { id } }`, { id: lone.body.data.createService.id });
    expect(exp.body.errors[0].extensions.code).toBe("NOT_CONNECTED");
    const sugg = await h.t.gql(`query($id: ID!) { company(id: $id) { linkSuggestions { score } } }`, { id: gid("Company", unconnected.id) });
    expect(sugg.body.data.company.linkSuggestions).toEqual([]);
    const badScore = await h.t.gql(`mutation($id: ID!) { acceptLinkSuggestions(companyId: $id, minScore: 1.5) { score } }`, { id: gid("Company", legacy.connected.id) });
    expect(badScore.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "minScore" });
  });
});

describe("a company token on another company", () => {
  it("gets FORBIDDEN from every mutation and query of the workflow, and nothing changes", async () => {
    const legacy = await loadLegacy(h.fake);
    const ids = await serviceIds(legacy.connected.id);
    const intruder = await createCompany();
    const token = await createApiTokenFor(intruder.id);
    const company = gid("Company", legacy.connected.id);
    const orphan = gid("Service", ids.get("PAS-012")!);
    const linked = gid("Service", ids.get("PAS-001")!);
    const before = await db().service.findMany({ where: { companyId: legacy.connected.id }, orderBy: { id: "asc" } });
    const auditsBefore = await db().auditEvent.count({ where: { companyId: legacy.connected.id } });
    const eventTypesBefore = h.fake.eventTypes(legacy.apiKey).length;

    const attempts: [string, Record<string, unknown>][] = [
      [CREATE, { input: { companyId: company, name: "Intruder", externalId: "PAS-999" } }],
      [UPDATE, { id: orphan, input: { name: "Hacked" } }],
      [LINK, { id: orphan, et: 601 }],
      [`mutation($id: ID!) { unlinkService(serviceId: $id) { id } }`, { id: linked }],
      [`mutation($id: ID!) { exportServiceToCalcom(serviceId: $id) { id } }`, { id: orphan }],
      [`mutation($id: ID!) { acceptLinkSuggestions(companyId: $id, minScore: 0.5, dryRun: false) { score } }`, { id: company }],
      [`mutation($id: ID!) { acceptLinkSuggestions(companyId: $id, minScore: 0.5) { score } }`, { id: company }],
      [`mutation($id: ID!) { markOrphanedServicesLegacy(companyId: $id, dryRun: false) { count } }`, { id: company }],
      [`mutation($id: ID!) { markOrphanedServicesLegacy(companyId: $id) { count } }`, { id: company }],
      [`mutation($id: ID!) { reactivateService(serviceId: $id) { id } }`, { id: orphan }],
      [`mutation($id: ID!, $c: String!) { importServices(companyId: $id, format: CSV, content: $c, dryRun: false) { created } }`, { id: company, c: "externalId,name\nPAS-012,Hacked\nX-1,New\n" }],
      [`mutation($id: ID!, $c: String!) { importServices(companyId: $id, format: CSV, content: $c) { created } }`, { id: company, c: "externalId,name\nX-1,New\n" }],
    ];
    for (const [query, variables] of attempts) {
      const res = await h.t.gql(query, variables, token);
      expect(res.body.errors?.[0]?.extensions?.code, query).toBe("FORBIDDEN");
      expect(Object.values(res.body.data ?? {}).every((v) => v === null), query).toBe(true);
    }
    const read = await h.t.gql(`query($id: ID!) { company(id: $id) { linkSuggestions { score } auditEvents(first: 5) { totalCount } } }`, { id: company }, token);
    expect(read.body.data.company).toBeNull();
    expect(read.body.errors[0].extensions.code).toBe("FORBIDDEN");

    expect(await db().service.findMany({ where: { companyId: legacy.connected.id }, orderBy: { id: "asc" } })).toEqual(before);
    expect(await db().auditEvent.count({ where: { companyId: legacy.connected.id } })).toBe(auditsBefore);
    expect(h.fake.eventTypes(legacy.apiKey)).toHaveLength(eventTypesBefore);
    expect(h.fake.requestsTo(/event-types/, "POST")).toHaveLength(0);
    expect(await db().service.count({ where: { companyId: intruder.id } })).toBe(0);
  });

  it("may run the whole workflow on its own company", async () => {
    const legacy = await loadLegacy(h.fake);
    const token = await createApiTokenFor(legacy.connected.id);
    const ids = await serviceIds(legacy.connected.id);
    const res = await h.t.gql(LINK, { id: gid("Service", ids.get("PAS-023")!), et: 612 }, token);
    expect(res.body.errors).toBeUndefined();
    const audit = await db().auditEvent.findFirstOrThrow({ where: { companyId: legacy.connected.id, action: "service.linked", actor: { startsWith: "token:" } } });
    expect(audit.details).toMatchObject({ calcomEventTypeId: 612, before: { syncStatus: "NEVER_SYNCED", durationMinutes: 30 }, after: { syncStatus: "SYNCED", durationMinutes: 45 } });
  });
});

describe("telemetry", () => {
  it("each mutation is a span, the export's Cal.com call its child; links, exports and legacy marks are counted by company", async () => {
    const legacy = await loadLegacy(h.fake);
    const ids = await serviceIds(legacy.connected.id);
    spanExporter().reset();
    const res = await h.t.gql(`mutation($id: ID!) { exportServiceToCalcom(serviceId: $id) { id } }`, { id: gid("Service", ids.get("PAS-029")!) });
    expect(res.body.errors).toBeUndefined();
    await h.t.gql(`mutation($id: ID!) { markOrphanedServicesLegacy(companyId: $id, dryRun: false) { count } }`, { id: gid("Company", legacy.connected.id) });
    const spans = spanExporter().getFinishedSpans();
    const exportSpan = spans.find((s) => s.name === "orphans.export_service")!;
    expect(exportSpan.attributes).toMatchObject({ "calsync.company_id": legacy.connected.id, "calsync.export.adopted": false });
    expect(exportSpan.attributes["calsync.correlation_id"]).toBeTruthy();
    const post = spans.find((s) => s.name === "calcom POST /v2/event-types")!;
    expect(post.parentSpanContext?.spanId).toBe(exportSpan.spanContext().spanId);
    expect(post.spanContext().traceId).toBe(exportSpan.spanContext().traceId);
    expect(spans.some((s) => s.name === "orphans.mark_orphaned_services_legacy")).toBe(true);
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain(legacy.apiKey);

    const metrics = (await h.t.http().get("/metrics")).text;
    const sample = (name: string, extra: string) =>
      metrics.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`company="${legacy.connected.slug}"`) && l.includes(extra));
    expect(sample("calsync_service_exports_total", 'outcome="created"')).toMatch(/ 1$/);
    expect(sample("calsync_service_links_total", 'source="import"')).toMatch(/ 11$/);
    expect(sample("calsync_service_links_total", 'source="export"')).toMatch(/ 1$/);
    expect(sample("calsync_service_legacy_marks_total", 'action="marked"')).toMatch(/ 24$/);
  });
});
