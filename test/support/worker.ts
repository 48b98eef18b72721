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
  }
}
