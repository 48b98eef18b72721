/**
 * Shutdown never strands work (issue 8): a worker stopped with SIGTERM in the middle of a job
 * interrupts it (Cal.com waits are abortable), puts a sync run back to QUEUED, and releases the
 * job at once, so another worker finishes it right away, not after a lock or liveness timeout.
 * Real `calsync worker` processes, a real signal, a fake Cal.com on loopback.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import pg from "pg";
import { parseEnv, setEnv } from "../src/config.ts";
import { connectDatabase, db, disconnectDatabase } from "../src/db/client.ts";
import { requestSync } from "../src/sync/runs.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { createTestDatabase } from "./support/db.ts";
import { FakeCalcom } from "./support/fake-calcom.ts";
import { connectCompany, createCompany, createService, createWebhookSecret } from "./factories.ts";
import { calsyncEnv, deliveries, post, startCalsync, until } from "./chaos/support.ts";
import { eventIdOf } from "./support/webhooks.ts";

// Real processes (tsx compiles the app first): slow on a busy 2-core CI.
vi.setConfig({ testTimeout: 180_000 });

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let fake: FakeCalcom;
beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(database.url, { max: 3 });
  fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
  await fake.start();
});
afterAll(async () => {
  await fake.close();
  await disconnectDatabase();
  await database.drop();
});

/** Worker processes whose liveness recovery could not be what moves the job (5 minutes). */
const env = () =>
  calsyncEnv(database.url, { CALCOM_API_URL: fake.url, CALCOM_RATE_LIMIT_PER_MINUTE: "100000", WORKER_DEAD_AFTER_SECONDS: "300" });

async function jobOf(key: string) {
  const rows = await db().$queryRawUnsafe<{ locked_by: string | null; attempts: number; due: boolean }[]>(
    "SELECT locked_by, attempts, run_at <= now() + interval '1 second' AS due FROM graphile_worker._private_jobs WHERE key = $1",
    key,
  );
  return rows[0];
}

describe("SIGTERM to a worker", () => {
  it("during a Cal.com 429 wait: exits promptly, the run is QUEUED (not RUNNING), and a new worker finishes it at once", async () => {
    const apiKey = "cal_test_shutdown429000000000000001";
    fake.addApiKey(apiKey);
    fake.addEventTypes(apiKey, 11);
    const company = await createCompany();
    await connectCompany(company.id, apiKey);
    // The first listing is answered 429 with a 30 s reset: the worker sits in that wait.
    fake.fault({ path: "/v2/event-types", status: 429, resetSeconds: 30 });

    const a = await startCalsync(["worker"], env());
    const { run } = await requestSync(company.id, "MANUAL");
    await until("worker A to wait out the 429", async () =>
      fake.requestsTo("/v2/event-types").length === 1 &&
      a.lines().some((l) => l["msg"] === "calcom rate limited, waiting") &&
      (await db().syncRun.findUniqueOrThrow({ where: { id: run.id } })).status === "RUNNING",
    );

    const signalledAt = Date.now();
    a.child.kill("SIGTERM");
    const [code] = (await a.exited) as [number | null];
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(a.lines().filter((l) => l["level"] === "error")).toEqual([]);
    expect(a.lines().some((l) => l["msg"] === "interrupted jobs released for another worker")).toBe(true);

    // Nothing stranded: the run is QUEUED again and its job is unlocked, due now, attempt given back.
    expect(await db().syncRun.findUniqueOrThrow({ where: { id: run.id } })).toMatchObject({ status: "QUEUED", errorClass: "Interrupted" });
    expect(await jobOf(`sync_company:${company.id}`)).toMatchObject({ locked_by: null, attempts: 0, due: true });
    // syncCompany does not hand back a stale RUNNING run: the same queued run, moving again.
    expect((await requestSync(company.id, "MANUAL")).run.id).toBe(run.id);

    const b = await startCalsync(["worker"], env());
    try {
      const finished = await until("worker B to finish the run", async () => {
        const r = await db().syncRun.findUniqueOrThrow({ where: { id: run.id } });
        return r.status === "SUCCEEDED" || r.status === "FAILED" ? r : null;
      }, 60_000, 100);
      expect(finished).toMatchObject({ status: "SUCCEEDED", created: 11, error: null });
      expect(await db().service.count({ where: { companyId: company.id } })).toBe(11);
      // B took it because A released it, not through dead-worker recovery.
      expect(b.lines().some((l) => l["msg"] === "released the jobs of a dead worker")).toBe(false);
    } finally {
      b.child.kill("SIGTERM");
      await b.exited;
    }
  });

  it("while processing a webhook that cannot finish: the job is released, and a new worker processes the event", async () => {
    const company = await createCompany();
    const secret = await createWebhookSecret(company.id);
    await createService(company.id, { calcomEventTypeId: 1187 });
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      const a = await startCalsync(["serve"], env());
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE bookings IN ACCESS EXCLUSIVE MODE");
      const [delivery] = deliveries(company.id, secret, "shutdown-release", 1);
      const res = await post(a.url, delivery!);
      expect(res.status).toBe(202);
      const eventId = eventIdOf({ body: { id: res.id } });
      // Its job is now blocked on the lock inside worker A.
      await until("the job to wait on the lock", async () => {
        const { rows } = await locker.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        );
        return rows[0].n > 0;
      });

      const signalledAt = Date.now();
      a.child.kill("SIGTERM");
      await a.exited;
      expect(Date.now() - signalledAt).toBeLessThan(10_000);
      const { rows } = await locker.query<{ locked_by: string | null }>(
        "SELECT locked_by FROM graphile_worker._private_jobs WHERE payload->>'eventId' = $1",
        [eventId],
      );
      expect(rows).toEqual([{ locked_by: null }]);
      await locker.query("COMMIT");

      const b = await startCalsync(["worker"], env());
      try {
        await until("worker B to process the event", async () =>
          (await db().webhookEvent.findUniqueOrThrow({ where: { id: eventId } })).status === "PROCESSED",
        );
        expect(await db().booking.findFirst({ where: { uid: "shutdown-release-0" } })).not.toBeNull();
      } finally {
        b.child.kill("SIGTERM");
        await b.exited;
      }
    } finally {
      await locker.end();
    }
  });
});
