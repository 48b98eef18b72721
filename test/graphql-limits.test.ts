/**
 * Bounded GraphQL (issue 11): the attack queries are refused before execution with a code that
 * names the limit; page sizes are capped; introspection and GraphiQL follow NODE_ENV.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { startTestApp, type TestApp } from "./support/app.ts";
import { createApiTokenFor, createCompany, createServices } from "./factories.ts";
import { db } from "../src/db/client.ts";

let t: TestApp;
let token: string;
let companyId: string;
beforeAll(async () => {
  t = await startTestApp();
  const c = await createCompany();
  companyId = encodeGlobalID("Company", c.id);
  await createServices(c.id, 5);
  token = await createApiTokenFor(c.id);
});
afterAll(async () => t.close());

function refusedWith(res: { status: number; body: { data?: unknown; errors?: { extensions: Record<string, unknown> }[] } }) {
  expect(res.status).toBe(400);
  expect(res.body.data ?? null).toBeNull();
  return res.body.errors![0]!.extensions;
}

describe("the attack queries of issue 11", () => {
  it("refuses 1,000 aliases", async () => {
    // The form: refused by the token count before parsing ends.
    const heavy = Array.from({ length: 1000 }, (_, i) => `a${i}: coverageReport { totalCompanies }`).join(" ");
    expect(refusedWith(await t.gql(`{ ${heavy} }`, {}, token))).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "tokens" });
    // Fewer, short enough to parse: refused by the alias count.
    const some = Array.from({ length: 100 }, (_, i) => `a${i}: coverageReport { totalCompanies }`).join(" ");
    expect(refusedWith(await t.gql(`{ ${some} }`, {}, token))).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "aliases" });
  });

  it("refuses a depth-50 query", async () => {
    let inner = "id";
    for (let i = 0; i < 12; i++) inner = `company { services { edges { node { ${inner} } } } }`;
    const res = await t.gql(`query($id: ID!) { company(id: $id) { services { edges { node { ${inner} } } } } }`, { id: companyId }, token);
    expect(refusedWith(res)).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "depth" });
  });

  it("refuses first: 1000000, as a literal or a variable, with BAD_USER_INPUT", async () => {
    const literal = await t.gql(`{ companies(first: 1000000) { totalCount } }`, {}, token);
    expect(refusedWith(literal)).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
    const variable = await t.gql(`query($id: ID!, $n: Int) { company(id: $id) { services(first: $n) { totalCount } } }`, { id: companyId, n: 1_000_000 }, token);
    expect(refusedWith(variable)).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
    const last = await t.gql(`{ companies(last: 101) { totalCount } }`, {}, token);
    expect(refusedWith(last)).toMatchObject({ code: "BAD_USER_INPUT", field: "last" });
    const ok = await t.gql(`query($id: ID!) { company(id: $id) { services(first: 100) { edges { node { name } } } } }`, { id: companyId }, token);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.company.services.edges).toHaveLength(5);
  });

  it("refuses services → company → services nesting whose pages multiply past the limit", async () => {
    const nested = `query($id: ID!, $n: Int) { company(id: $id) { services(first: $n) { edges { node {
      company { services(first: $n) { edges { node { company { services(first: $n) { edges { node { name } } } } } } } }
    } } } } }`;
    const res = await t.gql(nested, { id: companyId, n: 100 }, token);
    expect(refusedWith(res)).toMatchObject({ code: "QUERY_TOO_COMPLEX" });
    const twoDeep = `query($id: ID!, $n: Int) { company(id: $id) { services(first: $n) { edges { node {
      company { services(first: $n) { edges { node { name } } } } } } } } }`;
    expect(refusedWith(await t.gql(twoDeep, { id: companyId, n: 100 }, token))).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "nodes" });
    // The same shape with small pages is an ordinary query.
    const small = await t.gql(twoDeep, { id: companyId, n: 5 }, token);
    expect(small.body.errors).toBeUndefined();
    expect(small.body.data.company.services.edges[0].node.company.services.edges).toHaveLength(5);
  });

  it("refuses a 5,000-deep document in the parser, before anything executes", async () => {
    const before = await db().company.count();
    const deep = `mutation { createCompany(input: { name: "deep", slug: "deep-doc" }) { ${"services { edges { node { ".repeat(1250)}id${" } } }".repeat(1250)} } }`;
    const res = await t.gql(deep, {}, undefined);
    expect(refusedWith(res)).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "tokens" });
    expect(await db().company.count()).toBe(before);
  });

  it("refuses too many directives", async () => {
    const res = await t.gql(`{ __typename ${"@include(if: true) ".repeat(30)} }`, {}, token);
    expect(refusedWith(res)).toMatchObject({ code: "QUERY_TOO_COMPLEX", limit: "directives" });
  });
});

describe("introspection and GraphiQL", () => {
  it("are on in development", async () => {
    const res = await t.gql(`{ __schema { queryType { name } } }`, {}, token);
    expect(res.body.data.__schema.queryType.name).toBe("Query");
    const page = await t.http().get("/graphql").set("accept", "text/html");
    expect(page.status).toBe(200);
    expect(page.text).toContain("calsync GraphQL");
  });
});
