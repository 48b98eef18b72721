/**
 * Workers killed with SIGKILL (issues 13 and 16): nothing a dead worker held is lost or applied
 * twice, and its jobs move again within a minute, released by a live worker.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { parseEnv, setEnv } from "../../src/config.ts";
import { connectDatabase, db, disconnectDatabase } from "../../src/db/client.ts";
import { requestSync } from "../../src/sync/runs.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "../support/app.ts";
import { createTestDatabase } from "../support/db.ts";
import { FakeCalcom } from "../support/fake-calcom.ts";
import { connectCompany, createCompany, createService, createWebhookSecret } from "../factories.ts";
import { burst, calsyncEnv, deliveries, eventCounts, kill, metric, scrape, startCalsync, until, type CalsyncProcess } from "./support.ts";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let client: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(database.url, { max: 3 });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await disconnectDatabase();
  await database.drop();
});

/** A company with a webhook secret and a service for the fixtures' event type (no Cal.com calls). */
async function webhookCompany() {
  const company = await createCompany();
  const secret = await createWebhookSecret(company.id);
  await createService(company.id, { calcomEventTypeId: 1187, syncStatus: "SYNCED" });
  return { company, secret };
}

async function lockedBy(workerId: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE locked_by = $1",
    [workerId],
  );
  return rows[0]!.n;
}

const RECOVERY_LOCK = "SELECT pg_advisory_lock(hashtextextended('calsync:worker-recovery', 0))";
const RECOVERY_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('calsync:worker-recovery', 0))";

describe("a worker killed with SIGKILL", () => {
  it("while holding jobs: the gauge shows them stranded, another worker releases them, and every event is PROCESSED once with its booking within 60 s", async () => {
    const { company, secret } = await webhookCompany();
    const env = calsyncEnv(database.url);
    const api = await startCalsync(["serve", "--no-worker"], env);
    const [a, b] = await Promise.all([startCalsync(["worker"], env), startCalsync(["worker"], env)]);
    expect(a.workerId).toBeTruthy();

    // Every processing job blocks on the bookings table, so both workers hold jobs.
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE bookings IN ACCESS EXCLUSIVE MODE");
    const list = deliveries(company.id, secret, "kill16", 200);
    const outcomes = await burst(list, { origins: [api.url], concurrency: 16 });
    expect(outcomes.filter((o) => o.status === 202 && !o.duplicate)).toHaveLength(200);
    const held = await until("worker A to hold jobs", async () => (await lockedBy(a.workerId!)) || 0);

    // Hold off recovery (the lock every recovery try-locks) to look at the stranded jobs first.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    await holder.query(RECOVERY_LOCK);
    await kill(a);
    const killedAt = Date.now();
    const stranded = await until("the gauge to show the dead worker's jobs", async () => {
      const m = await scrape(api.url);
      return metric(m, "calsync_queue_jobs_locked_by_gone_workers") >= held ? m : null;
    });
    expect(metric(stranded, "calsync_queue_jobs_locked_by_gone_workers")).toBe(held);
    expect(metric(stranded, "calsync_queue_oldest_locked_age_seconds")).toBeGreaterThan(0);
    expect(metric(stranded, "calsync_queue_oldest_due_age_seconds")).toBeGreaterThan(0);

    await holder.query(RECOVERY_UNLOCK);
    await holder.end();
    await locker.query("COMMIT");
    await locker.end();

    const done = await until("every event PROCESSED", async () => {
      const c = await eventCounts(client, company.id, "kill16-");
      return c.processed === 200 ? c : null;
    }, 60_000);
    expect(done).toEqual({ total: 200, processed: 200, multiApplied: 0, bookings: 200 });
    // Batching lets worker B process the stranded jobs' events as siblings before recovery has
    // released the jobs themselves, so wait for the release too, still within the minute.
    await until("worker A's jobs to be released", async () => (await lockedBy(a.workerId!)) === 0, Math.max(1, 60_000 - (Date.now() - killedAt)));
    expect(Date.now() - killedAt).toBeLessThan(60_000);
    const recovery = b.lines().find((l) => l["msg"] === "released the jobs of a dead worker" && l["deadWorkerId"] === a.workerId);
    expect(recovery).toMatchObject({ deadWorkerId: a.workerId, jobsReleased: held });
    const after = await scrape(api.url);
    expect(metric(after, "calsync_queue_jobs_locked_by_gone_workers")).toBe(0);
  });

  it("twice during a burst of 2,000 deliveries: every event is PROCESSED exactly once", async () => {
    const { company, secret } = await webhookCompany();
    const env = calsyncEnv(database.url);
    const api = await startCalsync(["serve", "--no-worker"], env);
    let worker: CalsyncProcess = await startCalsync(["worker"], env);
    const killed: string[] = [];
    const restarts: Promise<void>[] = [];
    const killAndRestart = () => {
      const victim = worker;
      killed.push(victim.workerId!);
      restarts.push(
        (async () => {
          await kill(victim);
          worker = await startCalsync(["worker"], env);
        })(),
      );
    };
    const list = deliveries(company.id, secret, "kill13", 2_000);
    const outcomes = await burst(list, {
      origins: [api.url],
      concurrency: 16,
      onProgress: (n) => {
        if (n === 500 || n === 1_200) killAndRestart();
      },
    });
    await Promise.all(restarts);
    expect(outcomes.filter((o) => o.status === 202 && !o.duplicate)).toHaveLength(2_000);
    const done = await until("every event PROCESSED", async () => {
      const c = await eventCounts(client, company.id, "kill13-");
      return c.processed === 2_000 ? c : null;
    }, 180_000, 500);
    expect(done).toEqual({ total: 2_000, processed: 2_000, multiApplied: 0, bookings: 2_000 });
    expect(killed).toHaveLength(2);
    for (const id of killed) expect(await lockedBy(id)).toBe(0);
  });

  it("during a sync: the run goes back to QUEUED and is retried to SUCCEEDED by the other worker", async () => {
    const fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
    await fake.start();
    try {
      const apiKey = "cal_test_chaossync0000000000000001";
      fake.addApiKey(apiKey);
      fake.addEventTypes(apiKey, 25);
      const company = await createCompany();
      await connectCompany(company.id, apiKey);
      const env = calsyncEnv(database.url, { CALCOM_API_URL: fake.url, CALCOM_RATE_LIMIT_PER_MINUTE: "100000" });
      const a = await startCalsync(["worker"], env);
      // The first listing never answers: worker A is inside the sync when it dies.
      fake.fault({ path: "/v2/event-types", hang: true });
      const { run } = await requestSync(company.id, "MANUAL");
      await until("the sync to be RUNNING on worker A", async () =>
        fake.requestsTo("/v2/event-types").length > 0 && (await db().syncRun.findUnique({ where: { id: run.id } }))?.status === "RUNNING",
      );
      // A dies first: started before, worker B took seconds to boot on a loaded machine, long
      // enough for A's hung listing to time out and its retry to finish the run (attempts 1).
      await kill(a);
      const b = await startCalsync(["worker"], env);
      const finished = await until("the run to finish", async () => {
        const r = await db().syncRun.findUniqueOrThrow({ where: { id: run.id } });
        return r.status === "SUCCEEDED" || r.status === "FAILED" ? r : null;
      }, 60_000, 200);
      expect(finished).toMatchObject({ status: "SUCCEEDED", created: 25, attempts: 2, error: null });
      expect(await db().service.count({ where: { companyId: company.id } })).toBe(25);
      const recovery = b.lines().find((l) => l["msg"] === "released the jobs of a dead worker" && l["deadWorkerId"] === a.workerId);
      expect(recovery).toMatchObject({ deadWorkerId: a.workerId, jobsReleased: 1, runsRequeued: 1 });
    } finally {
      await fake.close();
    }
  });
});
