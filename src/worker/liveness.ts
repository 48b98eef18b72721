/**
 * Crash detection for graphile-worker, which has none of its own: a job locked by a worker that
 * died (SIGKILL, OOM, power loss) stays locked for 4 hours. calsync bounds that to about
 * WORKER_DEAD_AFTER_SECONDS.
 *
 * Liveness: every worker process (one graphile-worker pool, whose id is the `locked_by` of the
 * jobs it holds) upserts its row in `worker_heartbeats` (worker id, host, pid, last beat) every
 * `beatMs`, and deletes it when it stops cleanly.
 *
 * Recovery: every worker, on start and then every `checkMs`, looks for dead workers and releases
 * their jobs with graphile-worker's `force_unlock_workers` (the SQL function behind
 * `WorkerUtils.forceUnlockWorkers`), so the next free worker takes them at its next poll. A
 * worker is dead when
 *   - its heartbeat row is older than the bound, or
 *   - it holds a job locked for longer than the bound and has no heartbeat row at all (it died
 *     before its first beat, or is a process from before heartbeats existed).
 * Times are the database's `now()`, never a process clock, so clock skew between hosts does not
 * matter.
 *
 * Invariants:
 * - Race-safe and idempotent: the whole recovery is one transaction behind a transaction-level
 *   advisory lock taken with try-lock; a second worker recovering at the same moment skips its
 *   round, and the next round finds nothing left (the heartbeat rows are deleted in the same
 *   transaction as the unlock). `force_unlock_workers` only touches rows still `locked_by` the
 *   dead id, so a job another worker has since taken is never released twice.
 * - A released job keeps its attempt count: the killed attempt counts as one (graphile-worker
 *   counted it when it locked the job). Every task is idempotent, so a worker that was only slow,
 *   not dead, finishing the same job again does no harm (webhook events are applied once: the
 *   event row is locked and its status checked).
 * - A database outage makes every heartbeat stale at once. So nobody is declared dead while the
 *   database itself started less than one bound ago (pg_postmaster_start_time), nor by a worker
 *   whose own beats failed within the last bound (it may be the one cut off).
 * - A RUNNING sync or reconcile run whose job (`sync_company`, `reconcile_company`) is released
 *   goes back to QUEUED (error class WorkerLost) and is retried by that job; if the killed attempt
 *   was the job's last, the run is FAILED with that reason instead of staying RUNNING forever.
 */
import { hostname } from "node:os";
import type pg from "pg";
import { pool } from "../db/client.ts";
import { log } from "../log.ts";
import { workerJobsReleased } from "../metrics.ts";
import { SYNC_RUN_CHANNEL } from "../sync/run-events.ts";

export interface LivenessOptions {
  /** A worker silent for longer than this is dead (WORKER_DEAD_AFTER_SECONDS). */
  deadAfterMs: number;
  /** Heartbeat interval (Default: deadAfterMs / 6, between 250 ms and 5 s). */
  beatMs?: number;
  /** Recovery interval (Default: deadAfterMs / 3, between 500 ms and 10 s). */
  checkMs?: number;
}

export interface Recovered {
  workerId: string;
  jobs: number;
  runsRequeued: number;
  runsFailed: number;
}

const RECOVERY_LOCK = "calsync:worker-recovery";

/**
 * The run ledgers whose RUNNING rows belong to a job (payload `runId`): sync and reconcile runs.
 * Counted together in `Recovered` (runsRequeued / runsFailed).
 */
const RUN_LEDGERS = [
  { task: "sync_company", table: "sync_runs", channel: SYNC_RUN_CHANNEL },
  { task: "reconcile_company", table: "reconcile_runs", channel: null },
] as const;

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/**
 * Finds dead workers and releases their jobs, in one transaction; returns what it released per
 * dead worker (empty when nothing was dead, or another worker is recovering right now).
 */
export async function recoverDeadWorkers(deadAfterMs: number, self?: string): Promise<Recovered[]> {
  const client = await pool().connect();
  let failed: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await recoverIn(client, deadAfterMs / 1000, self ?? null);
    await client.query("COMMIT");
    for (const r of result) {
      workerJobsReleased.add(r.jobs);
      log("worker").warn(
        { deadWorkerId: r.workerId, jobsReleased: r.jobs, runsRequeued: r.runsRequeued, runsFailed: r.runsFailed },
        "released the jobs of a dead worker",
      );
    }
    return result;
  } catch (err) {
    failed = err as Error;
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release(failed);
  }
}

async function recoverIn(client: pg.ClientBase, deadAfterSeconds: number, self: string | null): Promise<Recovered[]> {
  const locked = await client.query<{ ok: boolean; fresh_db: boolean }>(
    `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok,
            pg_postmaster_start_time() > now() - make_interval(secs => $2) AS fresh_db`,
    [RECOVERY_LOCK, deadAfterSeconds],
  );
  if (!locked.rows[0]!.ok || locked.rows[0]!.fresh_db) return [];
  const dead = await client.query<{ worker_id: string }>(
    `SELECT worker_id FROM worker_heartbeats
      WHERE last_beat_at < now() - make_interval(secs => $1) AND worker_id IS DISTINCT FROM $2
     UNION
     SELECT DISTINCT j.locked_by FROM graphile_worker._private_jobs j
      WHERE j.locked_by IS NOT NULL AND j.locked_at < now() - make_interval(secs => $1)
        AND j.locked_by IS DISTINCT FROM $2
        AND NOT EXISTS (SELECT 1 FROM worker_heartbeats h WHERE h.worker_id = j.locked_by)
     UNION
     SELECT DISTINCT q.locked_by FROM graphile_worker._private_job_queues q
      WHERE q.locked_by IS NOT NULL AND q.locked_at < now() - make_interval(secs => $1)
        AND q.locked_by IS DISTINCT FROM $2
        AND NOT EXISTS (SELECT 1 FROM worker_heartbeats h WHERE h.worker_id = q.locked_by)`,
    [deadAfterSeconds, self],
  );
  const ids = dead.rows.map((r) => r.worker_id);
  if (ids.length === 0) return [];

  // The jobs about to be released, locked so that nobody completes or fails them meanwhile.
  const jobs = await client.query<{ locked_by: string; task: string; run_id: string | null; last: boolean }>(
    `SELECT j.locked_by, t.identifier AS task, j.payload->>'runId' AS run_id, j.attempts >= j.max_attempts AS last
       FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
      WHERE j.locked_by = ANY($1::text[])
      FOR UPDATE OF j`,
    [ids],
  );
  await client.query("SELECT graphile_worker.force_unlock_workers($1::text[])", [ids]);

  const byWorker = new Map<string, Recovered>(ids.map((id) => [id, { workerId: id, jobs: 0, runsRequeued: 0, runsFailed: 0 }]));
  for (const j of jobs.rows) byWorker.get(j.locked_by)!.jobs++;
  for (const ledger of RUN_LEDGERS) {
    for (const last of [false, true]) {
      const held = jobs.rows.filter((j) => j.task === ledger.task && j.last === last && j.run_id && /^[0-9a-f-]{36}$/i.test(j.run_id));
      if (held.length === 0) continue;
      const updated = await client.query<{ id: string }>(
        `UPDATE ${ledger.table}
            SET status = $2::"SyncRunStatus", error_class = 'WorkerLost', error = $3,
                ${ledger.table === "sync_runs" ? "progress = 0," : ""}
                finished_at = CASE WHEN $2 = 'FAILED' THEN now() ELSE finished_at END,
                duration_ms = CASE WHEN $2 = 'FAILED' AND started_at IS NOT NULL
                                   THEN (extract(epoch FROM now() - started_at) * 1000)::int ELSE duration_ms END
          WHERE id = ANY($1::uuid[]) AND status = 'RUNNING'
          RETURNING id::text AS id${ledger.channel ? ", pg_notify($4, id::text)" : ""}`,
        [
          held.map((j) => j.run_id),
          last ? "FAILED" : "QUEUED",
          last ? "its worker stopped during the last attempt" : "its worker stopped without finishing it; retrying",
          ...(ledger.channel ? [ledger.channel] : []),
        ],
      );
      const changed = new Set(updated.rows.map((r) => r.id));
      for (const j of held) {
        if (!changed.has(j.run_id!)) continue;
        const r = byWorker.get(j.locked_by)!;
        if (last) r.runsFailed++;
        else r.runsRequeued++;
      }
    }
  }
  await client.query("DELETE FROM worker_heartbeats WHERE worker_id = ANY($1::text[])", [ids]);
  return [...byWorker.values()];
}

/**
 * Beats for `workerId` and recovers dead workers until `stop()`, which deletes the heartbeat row
 * (a clean stop is not a death: nothing of ours is left locked by then).
 */
export interface Liveness {
  /**
   * Stops beating and recovering and removes the heartbeat row. `releaseOwnJobs`: also release
   * whatever this worker id still holds (its pool died and will not finish them).
   */
  stop(options?: { releaseOwnJobs?: boolean }): Promise<void>;
}

export async function startLiveness(workerId: string, options: LivenessOptions): Promise<Liveness> {
  const logger = log("worker");
  const deadAfterMs = options.deadAfterMs;
  const beatMs = options.beatMs ?? clamp(deadAfterMs / 6, 250, 5_000);
  const checkMs = options.checkMs ?? clamp(deadAfterMs / 3, 500, 10_000);
  const host = hostname();
  const pid = process.pid;
  /** When our own last beat failed (local clock); recovery waits one bound after it. */
  let lastBeatFailure = 0;
  let stopped = false;

  const beat = async () => {
    try {
      await pool().query(
        `INSERT INTO worker_heartbeats (worker_id, host, pid) VALUES ($1, $2, $3)
         ON CONFLICT (worker_id) DO UPDATE SET last_beat_at = now()`,
        [workerId, host, pid],
      );
    } catch (err) {
      if (lastBeatFailure === 0 || Date.now() - lastBeatFailure > deadAfterMs) {
        logger.warn({ workerId, err: (err as Error).message }, "worker heartbeat failed");
      }
      lastBeatFailure = Date.now();
    }
  };
  const check = async () => {
    if (lastBeatFailure && Date.now() - lastBeatFailure < deadAfterMs) return;
    try {
      await recoverDeadWorkers(deadAfterMs, workerId);
    } catch (err) {
      logger.warn({ workerId, err: (err as Error).message }, "dead-worker recovery failed; will try again");
    }
  };
  // One loop at a time per kind: a slow database never piles up beats.
  const loop = (fn: () => Promise<void>, ms: number, firstAfterMs: number) => {
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> = Promise.resolve();
    const tick = () => {
      if (stopped) return;
      running = fn().finally(() => {
        if (!stopped) timer = setTimeout(tick, ms).unref();
      });
    };
    timer = setTimeout(tick, firstAfterMs).unref();
    return async () => {
      clearTimeout(timer);
      await running;
    };
  };
  // The first beat is written before start returns, so a started worker is visible at once.
  await beat();
  const stopBeat = loop(beat, beatMs, beatMs);
  const stopCheck = loop(check, checkMs, 0);
  logger.info({ workerId, host, pid, deadAfterMs }, "worker started");
  return {
    stop: async ({ releaseOwnJobs = false } = {}) => {
      stopped = true;
      await Promise.all([stopBeat(), stopCheck()]);
      // Best effort: if the database is away, the row goes stale and others recover us.
      try {
        if (releaseOwnJobs) await pool().query("SELECT graphile_worker.force_unlock_workers(ARRAY[$1]::text[])", [workerId]);
        await pool().query("DELETE FROM worker_heartbeats WHERE worker_id = $1", [workerId]);
      } catch {
        /* the database is away: the row goes stale and another worker recovers these jobs */
      }
    },
  };
}
