import { setTimeout } from "node:timers/promises";
import { Logger, runOnce } from "graphile-worker";
import { pool } from "../../src/db/client.ts";
import { taskList } from "../../src/tasks/index.ts";

const silentLogger = new Logger(() => () => {});

/**
 * Runs every job that is due now (and those they enqueue that are due now), then returns.
 * Deterministic: no polling, no sleeps.
 */
export async function drainJobs(): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const { rows } = await pool().query<{ n: number }>(
      "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE run_at <= now() AND locked_at IS NULL AND attempts < max_attempts",
    );
    if (!rows[0]?.n) return;
    await runOnce({ pgPool: pool(), taskList, noHandleSignals: true, logger: silentLogger });
    await settleJobs();
  }
}

/**
 * Waits until no job is locked: graphile-worker records a job's completion without awaiting it,
 * so runOnce can return just before the row is released.
 */
export async function settleJobs(): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await pool().query<{ n: number }>(
      "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE locked_at IS NOT NULL",
    );
    if (!rows[0]?.n) return;
    await setTimeout(10);
  }
}
