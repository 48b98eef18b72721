/**
 * Scale-out (issue 13): two API processes and two workers on one database under a burst in which
 * every delivery arrives twice, once at each API process. Each is stored once (the other copy is a
 * duplicate), no event is processed twice, and the Cal.com budget that the two workers share
 * (per API key, in PostgreSQL) is never exceeded.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { parseEnv, setEnv } from "../../src/config.ts";
import { connectDatabase, disconnectDatabase } from "../../src/db/client.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "../support/app.ts";
import { createTestDatabase } from "../support/db.ts";
import { FakeCalcom } from "../support/fake-calcom.ts";
import { connectCompany, createCompany, createService, createWebhookSecret } from "../factories.ts";
import { burst, calsyncEnv, deliveries, eventCounts, startCalsync, until, type Delivery } from "./support.ts";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let client: pg.Client;
let fake: FakeCalcom;

beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(database.url, { max: 3 });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
  fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
  await fake.start();
});
afterAll(async () => {
  await fake.close();
  await client.end();
  await disconnectDatabase();
  await database.drop();
});

const BUDGET = 5;

describe("two API processes and two workers on one database", () => {
  it("store each delivery once, process each event once, and keep the shared Cal.com budget", async () => {
    // Two companies on one Cal.com key: one budget for both, spent by whichever worker runs.
    const apiKey = "cal_test_chaosscaleout000000000001";
    fake.addApiKey(apiKey);
    const unknown = fake.addEventTypes(apiKey, 16).map((e) => e.id);
    const a = await createCompany();
    const b = await createCompany();
    const secrets = [await createWebhookSecret(a.id), await createWebhookSecret(b.id)];
    for (const c of [a, b]) {
      await connectCompany(c.id, apiKey);
      await createService(c.id, { calcomEventTypeId: 1187, syncStatus: "SYNCED" });
    }
    // Most bookings are for a known event type; 16 of them name event types calsync has not seen,
    // so the workers ask Cal.com about each (`sync_service`), far more than the budget allows.
    const list: Delivery[] = [];
    for (const [i, c] of [a, b].entries()) {
      list.push(...deliveries(c.id, secrets[i]!, `scale${i}`, 192));
      list.push(...unknown.slice(i * 8, i * 8 + 8).map((id, k) => deliveries(c.id, secrets[i]!, `scale${i}u${k}`, 1, id)[0]!));
    }
    const env = calsyncEnv(database.url, { CALCOM_API_URL: fake.url, CALCOM_RATE_LIMIT_PER_MINUTE: String(BUDGET) });
    const [api1, api2, w1, w2] = await Promise.all([
      startCalsync(["serve", "--no-worker"], env),
      startCalsync(["serve", "--no-worker"], env),
      startCalsync(["worker"], env),
      startCalsync(["worker"], env),
    ]);
    expect(w1.workerId).not.toBe(w2.workerId);

    // Every delivery twice, once at each API process, at the same time.
    const twice = list.flatMap((d) => [d, d]);
    const outcomes = await burst(twice, { origins: [api1.url, api2.url], concurrency: 32 });
    // A connection reset now and then (about 1 in 2,000 here) gets no answer: re-sent, as a sender would.
    for (const [i, o] of outcomes.entries()) {
      if (o.status === 0) outcomes[i] = (await burst([o.delivery], { origins: [[api1.url, api2.url][i % 2]!], concurrency: 1 }))[0]!;
    }
    expect(outcomes.map((o) => o.status)).toEqual(twice.map(() => 202));
    for (let i = 0; i < list.length; i++) {
      const [x, y] = [outcomes[2 * i]!, outcomes[2 * i + 1]!];
      expect(x.id).toBe(y.id);
      expect([x.duplicate, y.duplicate]).toContain(true);
    }
    expect(outcomes.filter((o) => !o.duplicate).length).toBeLessThanOrEqual(list.length);

    for (const [i, c] of [a, b].entries()) {
      const done = await until(`company ${i}'s events PROCESSED`, async () => {
        const n = await eventCounts(client, c.id, `scale${i}`);
        return n.processed === 200 ? n : null;
      }, 120_000, 250);
      expect(done).toEqual({ total: 200, processed: 200, multiApplied: 0, bookings: 200 });
    }

    // The budget is spent, more refreshes wait for it, and none went over it.
    await until("the budget to be spent", async () => fake.requests.length >= BUDGET, 90_000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; Cal.com saw ${JSON.stringify(fake.requests.map((r) => [r.method, r.path, r.status]))}\n${w1.output().slice(-3000)}`);
    });
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = 'sync_service'",
    );
    expect(rows[0]!.n).toBeGreaterThan(0);
    expect(fake.requestsPerWindow(60_000)).toBeLessThanOrEqual(BUDGET);
    expect(fake.requests.filter((r) => r.status === 429)).toEqual([]);
  });
});
