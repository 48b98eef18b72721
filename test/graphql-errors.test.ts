/**
 * Every error a client can cause carries a documented `extensions.code`; ids that name nothing
 * answer null. Covers the fuzzing findings of issue 8 and the node/nodes and error-code items of
 * issue 15.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.ts";
import { createApiTokenFor, createCompany, createService } from "./factories.ts";
import { ERROR_CODES } from "../src/domain/errors.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; field?: string };
}

/** Codes documented in the README's table (src/domain/errors.ts plus the transport's own). */
const DOCUMENTED = new Set([
  ...Object.keys(ERROR_CODES),
  "QUERY_TOO_COMPLEX",
  "GRAPHQL_VALIDATION_FAILED",
  "GRAPHQL_PARSE_FAILED",
  "BAD_REQUEST",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "NOT_IMPLEMENTED",
]);

function expectCoded(errors: GqlError[] | undefined): GqlError[] {
  expect(errors?.length).toBeGreaterThan(0);
  for (const e of errors!) {
    expect(e.extensions?.code, e.message).toBeTypeOf("string");
    expect(DOCUMENTED.has(e.extensions.code), `${e.extensions.code} is documented`).toBe(true);
    expect(e.extensions.code).not.toBe("INTERNAL_SERVER_ERROR");
  }
  return errors!;
}

const gid = encodeGlobalID;

describe("inputs found by fuzzing (issue 8)", () => {
  it("refuses a NUL in ServiceFilter.search with BAD_USER_INPUT naming the field", async () => {
    const c = await createCompany();
    const viaVariable = await t.gql(`query($id: ID!, $s: String) { company(id: $id) { services(filter: { search: $s }) { totalCount } } }`, {
      id: gid("Company", c.id),
      s: "spa\u0000",
    });
    expect(expectCoded(viaVariable.body.errors)[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "filter.search" });
    const literal = await t.gql(`query($id: ID!) { company(id: $id) { services(filter: { search: "a\\u0000b" }) { totalCount } } }`, {
      id: gid("Company", c.id),
    });
    expect(expectCoded(literal.body.errors)[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "filter.search" });
  });

  it("answers plain null for a well-formed global id whose inner id is not a UUID", async () => {
    for (const inner of ["' OR 1=1 --", "-1", "1e400", "00000000-0000-0000-0000-000000000000"]) {
      for (const field of ["node", "company"]) {
        const res = await t.gql(`query($id: ID!) { ${field}(id: $id) { id } }`, { id: gid("Company", inner) });
        expect(res.status).toBe(200);
        expect(res.body, `${field}(Company:${inner})`).toEqual({ data: { [field]: null } });
      }
    }
  });

  it("gives first: -1 and company(id: \"garbage\") a code and the argument", async () => {
    const negative = await t.gql(`{ companies(first: -1) { totalCount } }`);
    expect(expectCoded(negative.body.errors)[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
    const garbage = await t.gql(`{ company(id: "garbage") { id } }`);
    expect(garbage.body.data).toEqual({ company: null });
    expect(expectCoded(garbage.body.errors)[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "id" });
    const negativeVar = await t.gql(`query($n: Int) { companies(first: $n) { totalCount } }`, { n: -1 });
    expect(expectCoded(negativeVar.body.errors)[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
  });

  it("answers malformed JSON with a GraphQL-shaped 400 carrying a code", async () => {
    const res = await t.http().post("/graphql").set("authorization", `Bearer ${ADMIN_TOKEN}`)
      .set("content-type", "application/json").send('{"query": "{ companies { totalCount } ');
    expect(res.status).toBe(400);
    expect(res.headers["content-type"]).toMatch(/application\/json/);
    expect(expectCoded(res.body.errors)[0]!.extensions.code).toBe("BAD_REQUEST");
    const empty = await t.http().post("/graphql").set("authorization", `Bearer ${ADMIN_TOKEN}`)
      .set("content-type", "application/json").send("");
    expect(empty.status).toBe(400);
    expectCoded(empty.body.errors);
  });
});

describe("node and nodes (issue 15)", () => {
  it("answer null for missing, foreign and malformed ids; nodes nulls only the bad entries", async () => {
    const mine = await createCompany();
    const theirs = await createCompany();
    const token = await createApiTokenFor(mine.id);
    const service = await createService(mine.id);
    const missing = gid("Company", "0190a3f4-0000-7000-8000-000000000000");

    const one = async (id: string) => (await t.gql(`query($id: ID!) { node(id: $id) { id } }`, { id }, token)).body;
    expect(await one(gid("Company", mine.id))).toEqual({ data: { node: { id: gid("Company", mine.id) } } });
    expect(await one(missing)).toEqual({ data: { node: null } });
    expect(await one(gid("Nothing", mine.id))).toEqual({ data: { node: null } });
    const foreign = await one(gid("Company", theirs.id));
    expect(foreign.data).toEqual({ node: null });
    expect(expectCoded(foreign.errors)[0]!.extensions.code).toBe("FORBIDDEN");
    const malformed = await one("not a global id");
    expect(malformed.data).toEqual({ node: null });
    expect(expectCoded(malformed.errors)[0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "id" });

    const many = await t.gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Service { name } } }`, {
      ids: [gid("Service", service.id), "garbage", missing, gid("Company", theirs.id), gid("Company", mine.id)],
    }, token);
    expect(many.body.data.nodes).toEqual([
      { id: gid("Service", service.id), name: service.name },
      null,
      null,
      null,
      { id: gid("Company", mine.id) },
    ]);
    const errors = expectCoded(many.body.errors);
    expect(errors.map((e) => [e.path, e.extensions.code])).toEqual([
      [["nodes", 1], "BAD_USER_INPUT"],
      [["nodes", 3], "FORBIDDEN"],
    ]);
  });

  it("node of a deleted object is null (Relay refetch after a delete)", async () => {
    const c = await createCompany();
    const s = await createService(c.id);
    const { db } = await import("../src/db/client.ts");
    await db().service.delete({ where: { id: s.id } });
    const res = await t.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: gid("Service", s.id) });
    expect(res.body).toEqual({ data: { node: null } });
  });
});

describe("every client-caused error has a code (issue 15)", () => {
  it("covers ids of the wrong type, cursors, first with last, and variables of the wrong type", async () => {
    const c = await createCompany();
    const cases: [string, Record<string, unknown>, string, string | undefined][] = [
      [`query($id: ID!) { company(id: $id) { id } }`, { id: gid("Service", c.id) }, "BAD_USER_INPUT", "id"],
      [`query($id: ID!) { syncCompany: company(id: $id) { id } }`, { id: "%%%" }, "BAD_USER_INPUT", "id"],
      [`{ companies(first: 1, after: "not-a-cursor") { totalCount } }`, {}, "BAD_USER_INPUT", "after"],
      [`{ companies(first: 1, last: 1) { totalCount } }`, {}, "BAD_USER_INPUT", "last"],
      [`query($n: Int) { companies(first: $n) { totalCount } }`, { n: "ten" }, "BAD_USER_INPUT", "$n"],
      [`{ companies(first: 101) { totalCount } }`, {}, "BAD_USER_INPUT", "first"],
      [`{ nope }`, {}, "GRAPHQL_VALIDATION_FAILED", undefined],
      [`{ companies { `, {}, "GRAPHQL_PARSE_FAILED", undefined],
      [`mutation { syncCompany(companyId: "garbage") { id } }`, {}, "BAD_USER_INPUT", "companyId"],
      [`mutation($id: ID!) { syncCompany(companyId: $id) { id } }`, { id: gid("Company", "0190a3f4-0000-7000-8000-000000000000") }, "NOT_FOUND", undefined],
    ];
    for (const [query, variables, code, field] of cases) {
      const res = await t.gql(query, variables);
      const [first] = expectCoded(res.body.errors);
      expect([first!.extensions.code, first!.extensions.field], query).toEqual([code, field]);
    }
  });

  it("answers a missing token with 401 UNAUTHENTICATED", async () => {
    const res = await t.gql(`{ companies { totalCount } }`, {}, null);
    expect(res.status).toBe(401);
    expect(expectCoded(res.body.errors)[0]!.extensions.code).toBe("UNAUTHENTICATED");
  });
});
