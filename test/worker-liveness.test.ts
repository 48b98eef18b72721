/**
 * Dead-worker recovery (src/worker/liveness.ts) at the level of the database it works on: what a
 * worker writes while it lives, what a recovery releases, and that racing recoveries release each
 * job once. The end-to-end version, with real processes killed by SIGKILL, is in test/chaos/.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostname } from "node:os";
import { pool, db } from "../src/db/client.ts";
import { recoverDeadWorkers } from "../src/worker/liveness.ts";
import { startWorker } from "../src/worker/runner.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { captureLogs } from "./support/webhooks.ts";
import { createCompany, createSyncRun } from "./factories.ts";

/**
 * The bound in these tests. Small, because recovery also waits until the database itself has run
 * for one bound (after an outage every heartbeat is stale), and the test server may be seconds old.
 */
const BOUND_MS = 1_000;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

/** Adds `n` jobs of `task` and marks them locked by `workerId` since `ago` (an SQL interval). */
async function lockedJobs(workerId: string, n: number, ago = "1 hour", task = "process_webhook_event", payload: (i: number) => object = () => ({ eventId: "00000000-0000-7000-8000-000000000000" })) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { rows } = await pool().query<{ id: string }>(
      "SELECT (graphile_worker.add_job($1, $2::json, max_attempts => 3)).id::text AS id",
      [task, JSON.stringify(payload(i))],
    );
    ids.push(rows[0]!.id);
  }
  await pool().query(
    `UPDATE graphile_worker._private_jobs SET locked_by = $1, locked_at = now() - $2::interval, attempts = attempts + 1
      WHERE id = ANY($3::bigint[])`,
    [workerId, ago, ids],
  );
  return ids;
}

async function heartbeat(workerId: string, ago: string) {
  await pool().query(
    "INSERT INTO worker_heartbeats (worker_id, host, pid, last_beat_at) VALUES ($1, 'gone-host', 1, now() - $2::interval)",
    [workerId, ago],
  );
}

async function stillLocked(ids: string[]): Promise<number> {
  const { rows } = await pool().query<{ n: number }>(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE id = ANY($1::bigint[]) AND locked_by IS NOT NULL",
    [ids],
  );
  return rows[0]!.n;
}

async function clearQueue() {
  await pool().query("DELETE FROM graphile_worker._private_jobs; DELETE FROM worker_heartbeats");
}

describe("worker liveness", () => {
  it("a running worker keeps a heartbeat row with its graphile-worker id, host and pid, and removes it on stop", async () => {
    const runner = await startWorker({ concurrency: 1, liveness: { deadAfterMs: 30_000 } });
    const { workerId } = runner as typeof runner & { workerId: string };
    try {
      const row = await db().workerHeartbeat.findUnique({ where: { workerId } });
      expect(row).toMatchObject({ workerId, host: hostname(), pid: process.pid });
    } finally {
      await runner.stop();
    }
    expect(await db().workerHeartbeat.findUnique({ where: { workerId } })).toBeNull();
  });

  it("releases the jobs of a worker silent past the bound, logs it, and forgets the worker", async () => {
    await clearQueue();
    await heartbeat("dead-1", "1 hour");
    await heartbeat("alive-1", "0 seconds");
    const dead = await lockedJobs("dead-1", 3);
    const alive = await lockedJobs("alive-1", 2);
    const logs = captureLogs();
    try {
      const released = await recoverDeadWorkers(BOUND_MS, "me");
      expect(released).toEqual([{ workerId: "dead-1", jobs: 3, runsRequeued: 0, runsFailed: 0 }]);
      expect(logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
        expect.objectContaining({ msg: "released the jobs of a dead worker", deadWorkerId: "dead-1", jobsReleased: 3 }),
      );
    } finally {
      logs.stop();
    }
    expect(await stillLocked(dead)).toBe(0);
    expect(await stillLocked(alive)).toBe(2);
    expect(await db().workerHeartbeat.findMany({ select: { workerId: true } })).toEqual([{ workerId: "alive-1" }]);
    // Idempotent: nothing is left to release.
    expect(await recoverDeadWorkers(BOUND_MS, "me")).toEqual([]);
  });

  it("treats a lock holder without any heartbeat as dead only once its lock is older than the bound", async () => {
    await clearQueue();
    const old = await lockedJobs("no-beat-old", 2, "2 minutes");
    const recent = await lockedJobs("no-beat-new", 1, "0 seconds");
    const released = await recoverDeadWorkers(BOUND_MS, "me");
    expect(released.map((r) => r.workerId)).toEqual(["no-beat-old"]);
    expect(await stillLocked(old)).toBe(0);
    expect(await stillLocked(recent)).toBe(1);
  });

  it("never declares itself dead", async () => {
    await clearQueue();
    await heartbeat("me", "1 hour");
    const mine = await lockedJobs("me", 1);
    expect(await recoverDeadWorkers(BOUND_MS, "me")).toEqual([]);
    expect(await stillLocked(mine)).toBe(1);
  });

  it("two workers recovering the same dead worker at once release each job once", async () => {
    await clearQueue();
    await heartbeat("dead-2", "1 hour");
    const ids = await lockedJobs("dead-2", 20);
    const results = await Promise.all([recoverDeadWorkers(BOUND_MS, "w1"), recoverDeadWorkers(BOUND_MS, "w2"), recoverDeadWorkers(BOUND_MS, "w3")]);
    const all = results.flat();
    expect(all).toEqual([{ workerId: "dead-2", jobs: 20, runsRequeued: 0, runsFailed: 0 }]);
    expect(await stillLocked(ids)).toBe(0);
    expect((await Promise.all([recoverDeadWorkers(BOUND_MS, "w1"), recoverDeadWorkers(BOUND_MS, "w2")])).flat()).toEqual([]);
  });

  it("puts a RUNNING sync run of a dead worker back to QUEUED, or FAILED when that was its last attempt", async () => {
    await clearQueue();
    const retried = await createSyncRun((await createCompany()).id, { status: "RUNNING", startedAt: new Date(), attempts: 1 });
    const last = await createSyncRun((await createCompany()).id, { status: "RUNNING", startedAt: new Date(), attempts: 3 });
    await heartbeat("dead-3", "1 hour");
    const [jobRetried] = await lockedJobs("dead-3", 1, "1 hour", "sync_company", () => ({ runId: retried.id }));
    const [jobLast] = await lockedJobs("dead-3", 1, "1 hour", "sync_company", () => ({ runId: last.id }));
    await pool().query("UPDATE graphile_worker._private_jobs SET attempts = max_attempts WHERE id = $1", [jobLast]);
    const released = await recoverDeadWorkers(BOUND_MS, "me");
    expect(released).toEqual([{ workerId: "dead-3", jobs: 2, runsRequeued: 1, runsFailed: 1 }]);
    expect(await db().syncRun.findUniqueOrThrow({ where: { id: retried.id } })).toMatchObject({
      status: "QUEUED", errorClass: "WorkerLost", error: "its worker stopped without finishing it; retrying", finishedAt: null,
    });
    const failed = await db().syncRun.findUniqueOrThrow({ where: { id: last.id } });
    expect(failed).toMatchObject({ status: "FAILED", errorClass: "WorkerLost", error: "its worker stopped during the last attempt" });
    expect(failed.finishedAt).not.toBeNull();
    expect(await stillLocked([jobRetried!])).toBe(0);
  });

  it("puts a RUNNING reconcile run of a dead worker back to QUEUED", async () => {
    await clearQueue();
    const company = await createCompany();
    const run = await db().reconcileRun.create({
      data: { companyId: company.id, trigger: "MANUAL", status: "RUNNING", startedAt: new Date(), correlationId: "corr-reconcile-dead" },
    });
    await heartbeat("dead-5", "1 hour");
    await lockedJobs("dead-5", 1, "1 hour", "reconcile_company", () => ({ runId: run.id }));
    expect(await recoverDeadWorkers(BOUND_MS, "me")).toEqual([{ workerId: "dead-5", jobs: 1, runsRequeued: 1, runsFailed: 0 }]);
    expect(await db().reconcileRun.findUniqueOrThrow({ where: { id: run.id } })).toMatchObject({ status: "QUEUED", errorClass: "WorkerLost" });
  });

  it("/metrics counts jobs locked by gone workers and shows the oldest lock and due job", async () => {
    await clearQueue();
    await heartbeat("dead-4", "1 hour");
    await lockedJobs("dead-4", 2, "5 minutes");
    const res = await t.http().get("/metrics");
    expect(res.status).toBe(200);
    const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(res.text)?.[1]);
    expect(value("calsync_queue_jobs_locked_by_gone_workers")).toBe(2);
    expect(value("calsync_queue_oldest_locked_age_seconds")).toBeGreaterThanOrEqual(300);
    expect(value("calsync_queue_oldest_due_age_seconds")).toBeGreaterThanOrEqual(0);
    await clearQueue();
  });
});
