/**
 * The "done when": stop calsync for a while, book on Cal.com (the stand-in) meanwhile,
 * start it again, and calsync's bookings equal Cal.com's, with the recovered count shown. Real
 * `serve` (HTTP + worker) twice on one database; the start-up reconcile does the recovering.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseEnv, setEnv } from "../src/config.ts";
import { connectDatabase, db } from "../src/db/client.ts";
import { serve } from "../src/http/server.ts";
import { connectCompany, createCompany } from "./factories.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { createTestDatabase } from "./support/db.ts";
import { FakeCalcom } from "./support/fake-calcom.ts";

vi.setConfig({ testTimeout: 120_000 });

const NEVER = "0 0 1 1 *"; // no cron tick during the test: only the start-up reconcile runs
let fake: FakeCalcom;
let database: { url: string; drop: () => Promise<void> };

beforeAll(async () => {
  fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
  await fake.start();
  database = await createTestDatabase();
  setEnv(
    parseEnv({
      DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, PORT: "0", LOG_LEVEL: "silent",
      CALCOM_API_URL: fake.url, SYNC_CRON: NEVER, RECONCILE_CRON: NEVER, RETENTION_CRON: NEVER,
    }),
  );
});
afterAll(async () => {
  await fake.close();
  await database.drop();
});

async function start() {
  const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  try {
    return await serve({ worker: true, onExit: () => {}, keepTelemetry: true });
  } finally {
    write.mockRestore();
  }
}

/** Waits for the company's STARTUP reconcile number `n` to finish (polling the ledger). */
async function startupRun(companyId: string, n: number) {
  for (let i = 0; i < 1200; i++) {
    const runs = await db().reconcileRun.findMany({ where: { companyId, trigger: "STARTUP" }, orderBy: { queuedAt: "asc" } });
    const run = runs[n - 1];
    if (run && (run.status === "SUCCEEDED" || run.status === "FAILED")) return run;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the start-up reconcile did not finish");
}

describe("start-up reconcile", () => {
  it("recovers what was booked, rescheduled and cancelled on Cal.com while calsync was stopped", async () => {
    connectDatabase(database.url);
    const apiKey = "cal_test_startup_key_0000000000000001";
    fake.addApiKey(apiKey);
    const company = await createCompany();
    await connectCompany(company.id, apiKey);
    await db().calcomConnection.update({ where: { companyId: company.id }, data: { connectedAt: new Date(Date.now() - 3_600_000) } });
    const [a, b] = fake.addBookings(apiKey, 2);

    // First start: the bookings made since the connection are brought in.
    let server = await start();
    expect(await startupRun(company.id, 1)).toMatchObject({ status: "SUCCEEDED", recovered: 2 });
    await server.shutdown("test");

    // calsync is stopped; on Cal.com a booking is made, one rescheduled, one cancelled.
    fake.addBookings(apiKey, 1);
    fake.rescheduleBooking(apiKey, a!.uid, "2031-06-01T09:00:00.000Z");
    fake.cancelBooking(apiKey, b!.uid);

    server = await start();
    try {
      const run = await startupRun(company.id, 2);
      expect(run).toMatchObject({ status: "SUCCEEDED", recovered: 2, updated: 2 });

      const res = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({
          query: `query($id: ID!) { company(id: $id) {
            missedWebhooksRecovered
            lastReconcileRun { trigger status recovered updated traceId }
            bookings(first: 10) { edges { node { uid status } } }
          } }`,
          variables: { id: encodeGlobalID("Company", company.id) },
        }),
      });
      const body = (await res.json()) as { data: { company: { missedWebhooksRecovered: number; lastReconcileRun: Record<string, unknown>; bookings: { edges: { node: { uid: string; status: string } }[] } } } };
      const shown = body.data.company;
      expect(shown.missedWebhooksRecovered).toBe(2 + 4);
      expect(shown.lastReconcileRun).toMatchObject({ trigger: "STARTUP", status: "SUCCEEDED", recovered: 2, updated: 2, traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
      const expected = fake.bookings(apiKey).map((x) => ({ uid: x.uid, status: x.status === "cancelled" && x.rescheduledToUid ? "RESCHEDULED" : x.status.toUpperCase() }));
      expect(shown.bookings.edges.map((e) => e.node).sort((x, y) => x.uid.localeCompare(y.uid))).toEqual(expected.sort((x, y) => x.uid.localeCompare(y.uid)));
    } finally {
      await server.shutdown("test");
    }
  });
});
