/**
 * `Company.services` as clients page it: the cursors they hold, both directions, filters with
 * their counts, cursors whose row changed or went away, every Service field through a fragment,
 * a company token that never reaches another company's rows, and `company(id:)` itself.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { db } from "../src/db/client.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { connectCompany, createApiTokenFor, createCompany, createService } from "./factories.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const gid = (type: string, id: string) => encodeGlobalID(type, id);

interface Page {
  totalCount?: number;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  edges: { cursor: string; node: { id: string; name: string } }[];
}

const PAGE = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $f: ServiceFilter) {
  company(id: $id) { services(first: $first, after: $after, last: $last, before: $before, filter: $f) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id name } } } } }`;

async function page(companyId: string, vars: Record<string, unknown>, token?: string): Promise<Page> {
  const res = await t.gql(PAGE, { id: gid("Company", companyId), ...vars }, token);
  expect(res.body.errors).toBeUndefined();
  return res.body.data.company.services;
}

const names = (p: Page) => p.edges.map((e) => e.node.name);

/** Five services; two share a name, so their order is by id. */
async function catalogue() {
  const c = await createCompany();
  const rows = [];
  for (const [name, syncStatus] of [["Bravo", "SYNCED"], ["Alpha", "PENDING"], ["Delta", "SYNCED"], ["Charlie", "ERROR"], ["Bravo", "SYNCED"]] as const) {
    rows.push(await createService(c.id, { name, syncStatus }));
  }
  const bravos = rows.filter((r) => r.name === "Bravo").map((r) => r.id).sort();
  return { c, rows, bravos };
}

describe("Company.services pages", () => {
  it("orders by name then id, with Pothos' prisma cursors (base64 of GPC:S:<uuid>) and global node ids", async () => {
    const { c, bravos } = await catalogue();
    const p = await page(c.id, { first: 3 });
    expect(names(p)).toEqual(["Alpha", "Bravo", "Bravo"]);
    expect(p.edges.slice(1).map((e) => e.node.id)).toEqual(bravos.map((id) => gid("Service", id)));
    expect(p.edges[1]!.cursor).toBe(Buffer.from(`GPC:S:${bravos[0]}`).toString("base64"));
    expect(p.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false, startCursor: p.edges[0]!.cursor, endCursor: p.edges[2]!.cursor });
    expect(p.totalCount).toBe(5);
    const next = await page(c.id, { first: 3, after: p.pageInfo.endCursor });
    expect(names(next)).toEqual(["Charlie", "Delta"]);
    expect(next.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
  });

  it("pages backwards with last/before to the same rows in the same order", async () => {
    const { c } = await catalogue();
    const all = await page(c.id, { first: 10 });
    const tail = await page(c.id, { last: 2 });
    expect(tail.edges).toEqual(all.edges.slice(3));
    expect(tail.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const before = await page(c.id, { last: 2, before: tail.pageInfo.startCursor });
    expect(before.edges).toEqual(all.edges.slice(1, 3));
    expect(before.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const start = await page(c.id, { last: 5, before: before.pageInfo.startCursor });
    expect(start.edges).toEqual(all.edges.slice(0, 1));
    expect(start.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
  });

  it("counts and pages with the filter, and a cursor whose row left the filter skips nothing", async () => {
    const { c, rows } = await catalogue();
    const synced = await page(c.id, { first: 1, f: { syncStatus: ["SYNCED"] } });
    expect(synced.totalCount).toBe(3);
    expect(names(synced)).toEqual(["Bravo"]);
    // The cursor row changes status: it no longer matches, the rows after its place still come.
    const cursorRow = rows.find((r) => gid("Service", r.id) === synced.edges[0]!.node.id)!;
    await db().service.update({ where: { id: cursorRow.id }, data: { syncStatus: "ERROR" } });
    const rest = await page(c.id, { first: 5, after: synced.pageInfo.endCursor, f: { syncStatus: ["SYNCED"] } });
    expect(names(rest)).toEqual(["Bravo", "Delta"]);
    expect(rest.totalCount).toBe(2);
    expect((await page(c.id, { first: 5, f: { search: "LT", isActive: true } })).edges.map((e) => e.node.name)).toEqual(["Delta"]);
  });

  it("answers an empty page after a cursor whose row was deleted, and only the count when only it is asked", async () => {
    const { c, rows } = await catalogue();
    const first = await page(c.id, { first: 1 });
    const alpha = rows.find((r) => r.name === "Alpha")!;
    await db().service.delete({ where: { id: alpha.id } });
    const after = await page(c.id, { first: 2, after: first.pageInfo.endCursor });
    expect(after.edges).toEqual([]);
    const count = await t.gql(`query($id: ID!) { company(id: $id) { services(filter: { syncStatus: [ERROR] }) { totalCount } } }`, { id: gid("Company", c.id) });
    expect(count.body).toEqual({ data: { company: { services: { totalCount: 1 } } } });
    const empty = await page(c.id, { first: 2, f: { search: "no such service" } });
    expect(empty).toEqual({ totalCount: 0, pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null }, edges: [] });
  });

  it("gives every Service field through fragments as service(id:) does", async () => {
    const c = await createCompany();
    const s = await createService(c.id, {
      description: "d", priceMinor: 4500, currency: "EUR", calcomEventTypeId: 77, syncStatus: "SYNCED", lastCalcomSync: new Date("2026-11-01T10:00:00.123Z"),
      locations: [{ type: "address", address: "Main St 1" }], bookingFields: [{ name: "notes" }], metadata: { a: 1 }, externalId: "x-1", hidden: true,
    });
    const fields = `id name slug description durationMinutes priceMinor currency isActive hidden calcomEventTypeId syncStatus lastCalcomSync syncError locations bookingFields metadata externalId createdAt updatedAt company { id slug }`;
    const res = await t.gql(`query($id: ID!, $s: ID!) {
      company(id: $id) { services(first: 1) { edges { node { ...F } } } }
      service(id: $s) { ${fields} }
    } fragment F on Service { ... on Service { ${fields} } __typename }`, { id: gid("Company", c.id), s: gid("Service", s.id) });
    expect(res.body.errors).toBeUndefined();
    const { __typename, ...node } = res.body.data.company.services.edges[0].node;
    expect(__typename).toBe("Service");
    expect(node).toEqual(res.body.data.service);
    expect(node).toMatchObject({ lastCalcomSync: "2026-11-01T10:00:00.123Z", locations: [{ type: "address", address: "Main St 1" }], metadata: { a: 1 } });
  });

  it("keeps a company token to its own company's services, whatever cursor it sends", async () => {
    const gpc = (id: string) => Buffer.from(`GPC:S:${id}`).toString("base64");
    const mine = await createCompany();
    const theirs = await createCompany();
    await createService(mine.id, { name: "Mine B" });
    const other = await createService(theirs.id, { name: "Mine A" });
    const token = await createApiTokenFor(mine.id);
    const own = await page(mine.id, { first: 5 }, token);
    expect(names(own)).toEqual(["Mine B"]);
    expect(own.totalCount).toBe(1);
    // Another company's row as the cursor is an unknown cursor: an empty page, whichever way, so
    // where that row's name sorts among this company's names is never revealed.
    for (const dir of [{ first: 5, after: gpc(other.id) }, { last: 5, before: gpc(other.id) }]) {
      const foreign = await page(mine.id, dir, token);
      expect(names(foreign)).toEqual([]);
      expect(foreign.totalCount).toBe(1);
    }
    const refused = await t.gql(PAGE, { id: gid("Company", theirs.id), first: 5 }, token);
    expect(refused.body.data).toEqual({ company: null });
    expect(refused.body.errors[0].extensions.code).toBe("FORBIDDEN");
  });
});

describe("company(id:) on its own columns", () => {
  it("answers the company's fields and calcomConnected either way, null for an id that names nothing", async () => {
    const on = await createCompany({ name: "Connected" });
    await connectCompany(on.id);
    const off = await createCompany({ name: "Not connected" });
    const q = `query($a: ID!, $b: ID!, $none: ID!) {
      a: company(id: $a) { id name slug createdAt calcomConnected }
      b: company(id: $b) { name calcomConnected services { totalCount } }
      none: company(id: $none) { id calcomConnected } }`;
    const res = await t.gql(q, { a: gid("Company", on.id), b: gid("Company", off.id), none: gid("Company", "00000000-0000-7000-8000-000000000000") });
    expect(res.body).toEqual({
      data: {
        a: { id: gid("Company", on.id), name: "Connected", slug: on.slug, createdAt: on.createdAt.toISOString(), calcomConnected: true },
        b: { name: "Not connected", calcomConnected: false, services: { totalCount: 0 } },
        none: null,
      },
    });
  });
});
