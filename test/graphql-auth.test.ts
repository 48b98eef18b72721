import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const CREATE = `mutation($input: CreateCompanyInput!) { createCompany(input: $input) { id name slug calcomConnected } }`;

describe("GraphQL authentication and company scoping", () => {
  it("answers 401 UNAUTHENTICATED without a token or with a bad one", async () => {
    for (const token of [null, "nope", "csk_unknown"]) {
      const res = await t.gql("{ companies { totalCount } }", {}, token);
      expect(res.status).toBe(401);
      expect(res.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    }
  });

  it("lets the admin create companies and a company token see only its own", async () => {
    const a = await t.gql(CREATE, { input: { name: "Acme", slug: "acme" } });
    expect(a.body.errors).toBeUndefined();
    const b = await t.gql(CREATE, { input: { name: "Beta", slug: "beta" } });
    const acmeId = a.body.data.createCompany.id;
    const betaId = b.body.data.createCompany.id;

    const tok = await t.gql(`mutation($id: ID!) { createApiToken(companyId: $id) { token prefix } }`, { id: acmeId });
    const token = tok.body.data.createApiToken.token as string;
    expect(token).toMatch(/^csk_/);

    const own = await t.gql(`query($id: ID!) { company(id: $id) { name } }`, { id: acmeId }, token);
    expect(own.body.data.company.name).toBe("Acme");

    const other = await t.gql(`query($id: ID!) { company(id: $id) { name } }`, { id: betaId }, token);
    expect(other.body.data.company).toBeNull();
    expect(other.body.errors[0].extensions.code).toBe("FORBIDDEN");

    const viaNode = await t.gql(`query($id: ID!) { node(id: $id) { id } }`, { id: betaId }, token);
    expect(viaNode.body.data.node).toBeNull();
    expect(viaNode.body.errors[0].extensions.code).toBe("FORBIDDEN");

    const list = await t.gql(`{ companies { totalCount edges { node { slug } } } }`, {}, token);
    expect(list.body.data.companies.totalCount).toBe(1);
    expect(list.body.data.companies.edges.map((e: { node: { slug: string } }) => e.node.slug)).toEqual(["acme"]);

    const create = await t.gql(CREATE, { input: { name: "Gamma", slug: "gamma" } }, token);
    expect(create.body.errors[0].extensions.code).toBe("FORBIDDEN");
  });
});
