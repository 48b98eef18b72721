/**
 * Per-token rate limits (issue 11): every mutation and the expensive fields, counted per company
 * token over a sliding minute in PostgreSQL, so every process of a deployment shares them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import type { FastifyInstance } from "fastify";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.ts";
import { createApiTokenFor, createCompany } from "./factories.ts";
import { buildApp } from "../src/http/app.ts";
import { db } from "../src/db/client.ts";

let t: TestApp;
let second: FastifyInstance;
beforeAll(async () => {
  t = await startTestApp({ GRAPHQL_RATE_LIMIT_MUTATIONS: "3", GRAPHQL_RATE_LIMIT_EXPENSIVE: "2" });
  // A second app on the same database stands for a second API process: nothing is kept in memory.
  second = await buildApp({ adminToken: ADMIN_TOKEN });
  await second.ready();
});
afterAll(async () => {
  await second.close();
  await t.close();
});

const SYNC = `mutation($id: ID!) { syncCompany(companyId: $id) { id } }`;

function post(app: FastifyInstance, query: string, variables: Record<string, unknown>, token: string) {
  return request(app.server).post("/graphql").set("authorization", `Bearer ${token}`).send({ query, variables });
}

describe("mutations", () => {
  it("refuses the call past the limit with 429 RATE_LIMITED and Retry-After, across processes", async () => {
    const c = await createCompany();
    const token = await createApiTokenFor(c.id);
    const id = encodeGlobalID("Company", c.id);
    const codes: string[] = [];
    for (const app of [t.app, second, t.app]) {
      const res = await post(app, SYNC, { id }, token);
      expect(res.status).toBe(200);
      codes.push(res.body.errors[0].extensions.code);
    }
    // The company is not connected: each call is answered, and each counts.
    expect(codes).toEqual(["BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT"]);
    const refused = await post(second, SYNC, { id }, token);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("60");
    expect(refused.body.data ?? null).toBeNull();
    expect(refused.body.errors[0].extensions).toMatchObject({ code: "RATE_LIMITED", retryAfterSeconds: 60 });
    expect(refused.body.errors[0].message).toContain("Mutation.syncCompany");

    // Another token (even of the same company) has its own budget; the admin token has none.
    const other = await createApiTokenFor(c.id);
    expect((await post(t.app, SYNC, { id }, other)).body.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    for (let i = 0; i < 5; i++) {
      expect((await post(t.app, SYNC, { id }, ADMIN_TOKEN)).body.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    }
  });

  it("runs nothing of a refused operation", async () => {
    const c = await createCompany();
    const token = await createApiTokenFor(c.id);
    const id = encodeGlobalID("Company", c.id);
    for (let i = 0; i < 3; i++) await post(t.app, SYNC, { id }, token);
    const before = await db().syncRun.count();
    const res = await post(t.app, `mutation($id: ID!) { a: syncCompany(companyId: $id) { id } }`, { id }, token);
    expect(res.body.errors[0].extensions.code).toBe("RATE_LIMITED");
    expect(await db().syncRun.count()).toBe(before);
  });
});

describe("expensive fields", () => {
  it("limits coverageReport per token", async () => {
    const c = await createCompany();
    const token = await createApiTokenFor(c.id);
    const q = `{ coverageReport { totalCompanies } }`;
    expect((await post(t.app, q, {}, token)).body.data.coverageReport.totalCompanies).toBe(1);
    expect((await post(second, q, {}, token)).body.data.coverageReport.totalCompanies).toBe(1);
    const refused = await post(t.app, q, {}, token);
    expect(refused.status).toBe(429);
    expect(refused.body.errors[0].extensions.code).toBe("RATE_LIMITED");
    // Cheap fields stay available to the same token.
    const cheap = await post(t.app, `{ companies { totalCount } }`, {}, token);
    expect(cheap.body).toEqual({ data: { companies: { totalCount: 1 } } });
  });
});
