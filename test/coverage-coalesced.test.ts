/**
 * coverageReport under concurrent polling: requests arriving together share one aggregate
 * (src/db/coalesce.ts), yet each answer counts every service written before its request was sent,
 * and a company token's answer never mixes with another company's or the admin's.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.ts";
import { createApiTokenFor, createCompany, createService, createServices } from "./factories.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const QUERY = "{ coverageReport { totalCompanies totals { totalServices syncedServices } } }";
const ADMIN_QUERY = "{ coverageReport { companies { company { id } coverage { totalServices } } } }";

describe("coverageReport polled concurrently", () => {
  it("answers every request with the services written before it was sent, while other requests are in flight", async () => {
    // A large catalogue elsewhere makes each aggregate take longer than a service's write, so
    // writes land while an aggregate is running.
    await createServices((await createCompany()).id, 20_000);
    const c = await createCompany();
    const id = encodeGlobalID("Company", c.id);
    type Answer = { body: { data: { coverageReport: { companies: { company: { id: string }; coverage: { totalServices: number } }[] } } } };
    const servicesOf = (res: Answer) => res.body.data.coverageReport.companies.find((row) => row.company.id === id)?.coverage.totalServices;
    // The admin token: company tokens are rate-limited on coverageReport, which a burst would meet.
    const answers: { written: number; answer: Promise<Answer> }[] = [];
    // Each request is sent right after a service commits and before the previous requests are
    // answered, so most of them arrive while an aggregate is running.
    for (let written = 1; written <= 12; written++) {
      await createService(c.id, { syncStatus: "SYNCED", calcomEventTypeId: 10_000 + written });
      for (let k = 0; k < 3; k++) answers.push({ written, answer: t.gql(ADMIN_QUERY).then((r) => r as Answer) });
    }
    for (const { written, answer } of answers) expect(servicesOf(await answer)).toBeGreaterThanOrEqual(written);
    expect(servicesOf((await t.gql(ADMIN_QUERY)) as Answer)).toBe(12);
  });

  it("keeps each company's and the admin's answers apart when they arrive together", async () => {
    const a = await createCompany();
    const b = await createCompany();
    await createServices(a.id, 3);
    await createServices(b.id, 5, { syncStatus: "SYNCED", calcomEventTypeId: null });
    const [ta, tb] = await Promise.all([createApiTokenFor(a.id), createApiTokenFor(b.id)]);
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) => t.gql(QUERY, {}, i % 3 === 0 ? ta : i % 3 === 1 ? tb : undefined)),
    );
    const reports = burst.map((res) => res.body.data?.coverageReport ?? res.body.errors);
    const company = { a: { totalCompanies: 1, totals: { totalServices: 3, syncedServices: 0 } }, b: { totalCompanies: 1, totals: { totalServices: 5, syncedServices: 5 } } };
    expect(reports.filter((_, i) => i % 3 === 0)).toEqual([company.a, company.a, company.a]);
    expect(reports.filter((_, i) => i % 3 === 1)).toEqual([company.b, company.b, company.b]);
    for (const admin of reports.filter((_, i) => i % 3 === 2)) expect(admin.totalCompanies).toBeGreaterThanOrEqual(2);
  });
});
