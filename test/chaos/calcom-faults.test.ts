/**
 * Cal.com misbehaving during a sync run by a real worker process (issue 13): 429s, 5xx and a
 * listing that stops half-way through its body. The run ends SUCCEEDED after retries or FAILED
 * with its reason, and the catalogue is never half-written: watched while the run goes, the
 * company has either none or all of the services.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { parseEnv, setEnv } from "../../src/config.ts";
import { connectDatabase, db, disconnectDatabase } from "../../src/db/client.ts";
import { requestSync } from "../../src/sync/runs.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "../support/app.ts";
import { createTestDatabase } from "../support/db.ts";
import { FakeCalcom } from "../support/fake-calcom.ts";
import { connectCompany, createCompany } from "../factories.ts";
import { calsyncEnv, startCalsync, until } from "./support.ts";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let fake: FakeCalcom;
let watcher: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(database.url, { max: 3 });
  fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
  await fake.start();
  watcher = new pg.Client({ connectionString: database.url });
  await watcher.connect();
});
afterAll(async () => {
  await watcher.end();
  await fake.close();
  await disconnectDatabase();
  await database.drop();
});

let keys = 0;
async function company(eventTypes: number) {
  const apiKey = `cal_test_chaosfaults${String(++keys).padStart(12, "0")}`;
  fake.addApiKey(apiKey);
  fake.addEventTypes(apiKey, eventTypes);
  const c = await createCompany();
  await connectCompany(c.id, apiKey);
  return { company: c, apiKey };
}

/** Runs the sync and records every service count seen while it runs (a half-written catalogue would show). */
async function syncWatched(companyId: string, maxAttempts: number) {
  const { run } = await requestSync(companyId, "MANUAL", { maxAttempts });
  const seen = new Set<number>();
  const finished = await until("the run to finish", async () => {
    const { rows } = await watcher.query<{ n: number }>("SELECT count(*)::int AS n FROM services WHERE company_id = $1", [companyId]);
    seen.add(rows[0]!.n);
    const r = await db().syncRun.findUniqueOrThrow({ where: { id: run.id } });
    return r.status === "SUCCEEDED" || r.status === "FAILED" ? r : null;
  }, 90_000, 20);
  return { run: finished, seen: [...seen].sort((a, b) => a - b) };
}

describe("Cal.com faults during a sync", () => {
  it("429s, 5xx and a listing that stops mid-body: SUCCEEDED after retries, all or nothing", async () => {
    // Attempts time out after 1 s; the client retries within an attempt, the job across attempts.
    const worker = await startCalsync(["worker"], calsyncEnv(database.url, { CALCOM_API_URL: fake.url, CALCOM_TIMEOUT_MS: "1000", CALCOM_RATE_LIMIT_PER_MINUTE: "100000" }));
    const { company: c, apiKey } = await company(300);
    fake.fault(
      { path: "/v2/event-types", status: 429, resetSeconds: 1 },
      { path: "/v2/event-types", status: 503 },
      { path: "/v2/event-types", stallMidBody: true },
      { path: "/v2/event-types", status: 502 },
      { path: "/v2/event-types", stallMidBody: true },
    );
    const { run, seen } = await syncWatched(c.id, 6);
    expect(run).toMatchObject({ status: "SUCCEEDED", created: 300, fetched: 300 });
    expect(seen.every((n) => n === 0 || n === 300)).toBe(true);
    expect(fake.pendingFaults).toBe(0);
    const listings = fake.requestsTo("/v2/event-types").filter((r) => r.userId === fake.user(apiKey).id);
    expect(listings.length).toBeGreaterThanOrEqual(6);
    expect(worker.child.exitCode).toBeNull();
  });

  it("a listing that keeps stopping mid-body: FAILED with its reason, nothing written", async () => {
    await startCalsync(["worker"], calsyncEnv(database.url, { CALCOM_API_URL: fake.url, CALCOM_TIMEOUT_MS: "500", CALCOM_RATE_LIMIT_PER_MINUTE: "100000" }));
    const { company: c } = await company(200);
    fake.fault({ path: "/v2/event-types", stallMidBody: true, times: Infinity });
    try {
      const { run, seen } = await syncWatched(c.id, 2);
      expect(run.status).toBe("FAILED");
      expect(run.errorClass).toBeTruthy();
      expect(run.error).toBeTruthy();
      expect(seen).toEqual([0]);
    } finally {
      fake.clearFaults();
    }
  });
});
