/**
 * Tenant isolation matrix, generated from introspection. Company A's token is pointed at company
 * B's objects through every field reachable from Query, Mutation and Subscription: `node` and
 * `nodes` for every Node type (with every field of that type selected, nested), each root field
 * with B's ids in its arguments and inputs (queries select everything below them), and the
 * subscription. Each answers FORBIDDEN/null (lists: A's own rows only), no answer holds anything
 * of B's, and B's rows are byte-for-byte unchanged afterwards (no job queued for B either).
 *
 * Every root field needs an entry in ROOT_CASES, every Node type a fixture, and every reachable
 * coordinate must be selected by some case: a new field without a case fails the suite.
 */
import { randomUUID } from "node:crypto";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { buildClientSchema, getIntrospectionQuery, getNamedType, isLeafType, type GraphQLSchema } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, pool } from "../src/db/client.ts";
import {
  connectCompany, createApiTokenFor, createAuditEvent, createBooking, createCompany, createService, createSyncRun,
  createWebhookEvent, createWebhookSecret,
} from "./factories.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { FakeCalcom } from "./support/fake-calcom.ts";
import { argumentList, reachableCoordinates, rootDocument, selection } from "./support/isolation.ts";

let t: TestApp;
let fake: FakeCalcom;
let schema: GraphQLSchema;
let tokenA: string;
const covered = new Set<string>();

/** Every object of one company, by GraphQL type, with the strings that must never reach the other. */
interface Tenant {
  companyId: string;
  ids: Record<string, string>; // typename → raw id (the Node types)
  extra: { orphanServiceId: string; legacyServiceId: string };
  markers: string[];
}

async function tenant(label: string): Promise<Tenant> {
  const tag = `${label}-${randomUUID().slice(0, 8)}`;
  const company = await createCompany({ name: `Company ${tag}`, slug: `co-${tag}` });
  const apiKey = `cal_test_${randomUUID().replaceAll("-", "")}`;
  fake.addApiKey(apiKey);
  fake.addEventTypes(apiKey, [{ title: `Event ${tag}`, slug: `event-${tag}` }]);
  await connectCompany(company.id, apiKey);
  await createWebhookSecret(company.id, `whsec-${tag}-0123456789`);
  const service = await createService(company.id, { name: `Service ${tag}`, slug: `svc-${tag}`, calcomEventTypeId: 9_000_000 + Math.floor(Math.random() * 1e6), syncStatus: "SYNCED" });
  const orphan = await createService(company.id, { name: `Orphan ${tag}`, slug: `orphan-${tag}` });
  const legacy = await createService(company.id, { name: `Legacy ${tag}`, slug: `legacy-${tag}`, syncStatus: "LEGACY" });
  const run = await createSyncRun(company.id, { correlationId: `corr-${tag}`, status: "SUCCEEDED" });
  const event = await createWebhookEvent(company.id, { status: "FAILED", payload: { triggerEvent: "BOOKING_CREATED", marker: `payload-${tag}` }, correlationId: `corr-ev-${tag}` });
  const booking = await createBooking(company.id, { uid: `bk-${tag}`, title: `Booking ${tag}`, serviceId: service.id });
  const auditEvent = await createAuditEvent(company.id, { details: { marker: `audit-${tag}` } });
  await createApiTokenFor(company.id);
  const apiToken = await db().apiToken.findFirstOrThrow({ where: { companyId: company.id } });
  const reconcileRun = await db().reconcileRun.create({
    data: { companyId: company.id, trigger: "MANUAL", status: "SUCCEEDED", recovered: label === "B" ? 7 : 0, correlationId: `corr-rr-${tag}` },
  });
  return {
    companyId: company.id,
    ids: {
      Company: company.id, Service: service.id, SyncRun: run.id, WebhookEvent: event.id, Booking: booking.id,
      AuditEvent: auditEvent.id, ApiToken: apiToken.id, ReconcileRun: reconcileRun.id,
    },
    extra: { orphanServiceId: orphan.id, legacyServiceId: legacy.id },
    markers: [
      tag, company.id, service.id, orphan.id, legacy.id, run.id, event.id, booking.id, auditEvent.id, apiToken.id, reconcileRun.id,
      apiToken.prefix,
    ],
  };
}

let A: Tenant;
let B: Tenant;
const gidOf = (tn: Tenant, type: string) => encodeGlobalID(type, tn.ids[type]!);

/** B's rows in every table that holds company data, and jobs naming B: a digest to compare. */
async function stateOfB(): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  const tables = ["calcom_connections", "webhook_secrets", "api_tokens", "services", "sync_runs", "webhook_events", "bookings", "reconcile_runs", "audit_events"];
  for (const table of tables) {
    const { rows } = await pool().query<{ d: string | null }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM ${table} t WHERE company_id = $1::uuid`, [B.companyId]);
    out[table] = rows[0]!.d;
  }
  const company = await pool().query<{ d: string }>("SELECT md5(c::text) AS d FROM companies c WHERE id = $1::uuid", [B.companyId]);
  out["companies"] = company.rows[0]!.d;
  const jobs = await pool().query<{ n: number }>(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE payload::text LIKE '%' || $1 || '%'", [B.companyId]);
  out["jobs"] = String(jobs.rows[0]!.n);
  return out;
}

async function gqlA(document: string) {
  const res = await t.gql(document, {}, tokenA);
  return res.body as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
}

function expectNothingOfB(body: unknown, where: string) {
  const text = JSON.stringify(body);
  for (const m of B.markers) expect(text.includes(m), `${where} leaked ${m}`).toBe(false);
}

function expectForbidden(body: Awaited<ReturnType<typeof gqlA>>, field: string, where: string) {
  expect(body.errors?.map((e) => e.extensions?.code), `${where}: ${JSON.stringify(body.errors)}`).toContain("FORBIDDEN");
  expect(body.data?.[field] ?? null, where).toBeNull();
  expectNothingOfB(body, where);
}

beforeAll(async () => {
  fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
  await fake.start();
  // Generous limits: the matrix selects every field, nested, in one document per case.
  t = await startTestApp({
    CALCOM_API_URL: fake.url, CALCOM_RATE_LIMIT_PER_MINUTE: "100000",
    GRAPHQL_MAX_TOKENS: "100000", GRAPHQL_MAX_COST: "10000000", GRAPHQL_MAX_NODES: "10000000", GRAPHQL_MAX_DEPTH: "100",
    GRAPHQL_RATE_LIMIT_MUTATIONS: "100000", GRAPHQL_RATE_LIMIT_EXPENSIVE: "100000",
  });
  A = await tenant("A");
  B = await tenant("B");
  tokenA = await createApiTokenFor(A.companyId);
  const intro = await t.gql(getIntrospectionQuery());
  if (intro.body.errors) throw new Error(`introspection failed: ${JSON.stringify(intro.body.errors)}`);
  schema = buildClientSchema(intro.body.data);
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

/** Node types: A's own object comes back (the query is sound), B's is null + FORBIDDEN, by node and nodes. */
describe("node and nodes, every Node type, every field", () => {
  it("has a fixture for every type that implements Node", () => {
    const nodeTypes = schema.getPossibleTypes(schema.getType("Node") as never).map((x) => x.name).sort();
    expect(nodeTypes).toEqual(Object.keys(B.ids).sort());
  });

  it("answers A's own object and refuses B's", async () => {
    const before = await stateOfB();
    for (const type of Object.keys(B.ids)) {
      const sel = selection(schema, schema.getType(type)!, 3, covered);
      covered.add("Query.node");
      covered.add("Query.nodes");
      const own = await gqlA(`query { node(id: "${gidOf(A, type)}") { ... on ${type} { ${sel} } } }`);
      expect(own.errors, `${type} (own): ${JSON.stringify(own.errors)}`).toBeUndefined();
      expect((own.data?.["node"] as { __typename?: string } | null)?.__typename).toBe(type);

      const foreign = await gqlA(`query { node(id: "${gidOf(B, type)}") { ... on ${type} { ${sel} } } }`);
      expectForbidden(foreign, "node", `node(${type})`);

      const many = await gqlA(`query { nodes(ids: ["${gidOf(A, type)}", "${gidOf(B, type)}"]) { ... on ${type} { ${sel} } } }`);
      const list = many.data?.["nodes"] as unknown[];
      expect(list[0], `nodes(${type}) own`).not.toBeNull();
      expect(list[1], `nodes(${type}) foreign`).toBeNull();
      expect(many.errors?.map((e) => e.extensions?.code)).toContain("FORBIDDEN");
      expectNothingOfB(many, `nodes(${type})`);
    }
    expect(await stateOfB()).toEqual(before);
  });
});

type Expect = "forbidden" | "own-only" | "node-matrix";
interface RootCase {
  args?: () => Record<string, unknown>;
  expect: Expect;
  /** Extra check of the data (own-only cases). */
  check?: (data: unknown) => void;
}

const bGid = (type: string) => () => gidOf(B, type);
const bCompany = bGid("Company");

/** Every root field. A field missing here fails "every root field has a case". */
const ROOT_CASES: Record<string, RootCase> = {
  // Run per Node type above, with a fragment per type (one document over every type would not validate).
  "Query.node": { expect: "node-matrix" },
  "Query.nodes": { expect: "node-matrix" },
  "Query.coverageReport": { expect: "own-only", check: (d) => expect((d as { totalCompanies: number }).totalCompanies).toBe(1) },
  "Query.companies": { expect: "own-only", check: (d) => expect((d as { totalCount: number }).totalCount).toBe(1) },
  "Query.company": { expect: "forbidden", args: () => ({ id: bCompany() }) },
  "Query.service": { expect: "forbidden", args: () => ({ id: bGid("Service")() }) },
  "Query.syncRun": { expect: "forbidden", args: () => ({ id: bGid("SyncRun")() }) },
  "Query.webhookEvents": { expect: "own-only" },
  "Query.webhookEvent": { expect: "forbidden", args: () => ({ id: bGid("WebhookEvent")() }) },
  "Query.reconcileRun": { expect: "forbidden", args: () => ({ id: bGid("ReconcileRun")() }) },
  "Query.missedWebhooksRecovered": { expect: "own-only", check: (d) => expect(d).toBe(0) },

  "Mutation.createCompany": { expect: "forbidden", args: () => ({ input: { name: "Hijack", slug: `hijack-${randomUUID().slice(0, 6)}` } }) },
  "Mutation.syncService": { expect: "forbidden", args: () => ({ serviceId: bGid("Service")() }) },
  "Mutation.syncCompany": { expect: "forbidden", args: () => ({ companyId: bCompany() }) },
  "Mutation.retryWebhookEvent": { expect: "forbidden", args: () => ({ id: bGid("WebhookEvent")() }) },
  "Mutation.resolveWebhookEvent": { expect: "forbidden", args: () => ({ id: bGid("WebhookEvent")() }) },
  "Mutation.addWebhookSecret": { expect: "forbidden", args: () => ({ companyId: bCompany(), secret: "attacker-secret-0123456789", expiresOldAfterSeconds: 0 }) },
  "Mutation.createApiToken": { expect: "forbidden", args: () => ({ companyId: bCompany() }) },
  "Mutation.revokeApiToken": { expect: "forbidden", args: () => ({ id: bGid("ApiToken")() }) },
  "Mutation.connectCalcom": { expect: "forbidden", args: () => ({ input: { companyId: bCompany(), apiKey: "cal_test_attacker", webhookSecret: "attacker-secret-0123456789" } }) },
  "Mutation.reconcileBookings": { expect: "forbidden", args: () => ({ companyId: bCompany() }) },
  "Mutation.createService": { expect: "forbidden", args: () => ({ input: { companyId: bCompany(), name: "Planted service" } }) },
  "Mutation.updateService": { expect: "forbidden", args: () => ({ id: bGid("Service")(), input: { name: "Renamed by A" } }) },
  "Mutation.linkService": { expect: "forbidden", args: () => ({ serviceId: encodeGlobalID("Service", B.extra.orphanServiceId), calcomEventTypeId: 1 }) },
  "Mutation.unlinkService": { expect: "forbidden", args: () => ({ serviceId: bGid("Service")() }) },
  "Mutation.exportServiceToCalcom": { expect: "forbidden", args: () => ({ serviceId: encodeGlobalID("Service", B.extra.orphanServiceId) }) },
  "Mutation.reactivateService": { expect: "forbidden", args: () => ({ serviceId: encodeGlobalID("Service", B.extra.legacyServiceId) }) },
  "Mutation.acceptLinkSuggestions": { expect: "forbidden", args: () => ({ companyId: bCompany(), minScore: 0, dryRun: false }) },
  "Mutation.importServices": {
    expect: "forbidden",
    args: () => ({ companyId: bCompany(), format: "CSV", content: "externalId,name\nplanted-1,Planted by A\n", dryRun: false }),
  },
  "Mutation.markOrphanedServicesLegacy": { expect: "forbidden", args: () => ({ companyId: bCompany(), dryRun: false }) },

  "Subscription.syncRunProgress": { expect: "forbidden", args: () => ({ id: bGid("SyncRun")() }) },
};

/** How deep each root case selects (deeper for roots whose objects hide types further down). */
const DEPTH = 3;

/** A forbidden case must be refused; an own-only one must answer without error and hold nothing of B's. */
function checkQuery(c: RootCase, body: Awaited<ReturnType<typeof gqlA>>, field: string) {
  const where = `Query.${field}`;
  if (c.expect === "forbidden") return expectForbidden(body, field, where);
  expect(body.errors, `${where}: ${JSON.stringify(body.errors)}`).toBeUndefined();
  expectNothingOfB(body, where);
  return c.check?.(body.data?.[field]);
}

describe("every root field with B's ids", () => {
  it("has a case for every root field", () => {
    const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]
      .flatMap((r) => (r ? Object.keys(r.getFields()).map((f) => `${r.name}.${f}`) : []));
    expect(roots.filter((r) => !(r in ROOT_CASES)), "root fields without a case in ROOT_CASES").toEqual([]);
    expect(Object.keys(ROOT_CASES).filter((c) => !roots.includes(c)), "cases for fields that no longer exist").toEqual([]);
  });

  it("queries: B's objects are null + FORBIDDEN, lists hold A's rows only", async () => {
    for (const field of Object.values(schema.getQueryType()!.getFields())) {
      const c = ROOT_CASES[`Query.${field.name}`];
      if (!c || c.expect === "node-matrix") continue;
      const doc = rootDocument(schema, "query", field, c.args?.() ?? {}, DEPTH, covered);
      const body = await gqlA(doc);
      checkQuery(c, body, field.name);
    }
  });

  it("mutations: FORBIDDEN, and nothing of B's changes", async () => {
    const before = await stateOfB();
    for (const field of Object.values(schema.getMutationType()!.getFields())) {
      const c = ROOT_CASES[`Mutation.${field.name}`];
      if (!c) continue;
      const body = await gqlA(rootDocument(schema, "mutation", field, c.args?.() ?? {}, DEPTH, covered));
      expectForbidden(body, field.name, `Mutation.${field.name}`);
    }
    expect(await stateOfB()).toEqual(before);
    expect(await db().company.count({ where: { name: "Hijack" } })).toBe(0);
  });

  it("the subscription refuses B's run", async () => {
    const field = schema.getSubscriptionType()!.getFields()["syncRunProgress"]!;
    const doc = rootDocument(schema, "subscription", field, ROOT_CASES["Subscription.syncRunProgress"]!.args!(), DEPTH, covered);
    const res = await t.http().post("/graphql").set("authorization", `Bearer ${tokenA}`).set("accept", "text/event-stream")
      .set("content-type", "application/json").send({ query: doc });
    const events = res.text.split("\n").filter((l) => l.startsWith("data:") && l.slice(5).trim()).map((l) => JSON.parse(l.slice(5)));
    expect(events.some((e) => e.errors?.some((x: { extensions?: { code?: string } }) => x.extensions?.code === "FORBIDDEN")), res.text).toBe(true);
    expect(events.every((e) => !e.data?.syncRunProgress)).toBe(true);
    expectNothingOfB(events, "Subscription.syncRunProgress");
  });
});

describe("coverage of the matrix", () => {
  it("selected every field reachable from Query, Mutation and Subscription", () => {
    const missing = [...reachableCoordinates(schema)].filter((c) => !covered.has(c));
    expect(missing, "fields no case reached: add a fixture or deepen the case").toEqual([]);
  });

  it("(the generator writes valid arguments)", () => {
    const f = schema.getQueryType()!.getFields()["companies"]!;
    expect(argumentList(f.args)).toBe("(first: 2)");
    expect(isLeafType(getNamedType(schema.getQueryType()!.getFields()["missedWebhooksRecovered"]!.type))).toBe(true);
  });
});
