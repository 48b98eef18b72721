/**
 * The job runner (graphile-worker). Jobs live in PostgreSQL, so any number of worker processes
 * can run side by side on one database.
 */
import { Logger as WorkerLogger, parseCronItems, run, type CronItem, type Runner } from "graphile-worker";
import { pool } from "../db/client.ts";
import { log } from "../log.ts";
import { taskList } from "../tasks/index.ts";
import { enqueue } from "./enqueue.ts";

export interface WorkerOptions {
  concurrency: number;
  /** Cron items (e.g. the scheduled full sync); only tasks in the registry are scheduled. */
  cron?: CronItem[];
  /** Poll interval in ms when LISTEN/NOTIFY is missed (Default: 2000). */
  pollInterval?: number;
  /**
   * Queue a STARTUP reconcile of every connected company once the worker runs, covering the time
   * calsync was down (Default: false; `serve` and `worker` turn it on).
   */
  reconcileAtStartup?: boolean;
}

function workerLogger(): WorkerLogger {
  const logger = log("worker");
  return new WorkerLogger(() => (level, message, meta) => {
    const fields = { scope: meta?.["scope"] };
    if (level === "error") logger.error(fields, message);
    else if (level === "warning") logger.warn(fields, message);
    else logger.debug(fields, message);
  });
}

export async function startWorker(options: WorkerOptions): Promise<Runner> {
  const cron = (options.cron ?? []).filter((item) => item.task in taskList);
  const runner = await run({
    pgPool: pool(),
    concurrency: options.concurrency,
    taskList,
    noHandleSignals: true,
    pollInterval: options.pollInterval ?? 2_000,
    parsedCronItems: parseCronItems(cron),
    logger: workerLogger(),
  });
  if (options.reconcileAtStartup) {
    // Keyed: processes starting together queue one fan-out, not one each.
    await enqueue("schedule_reconciles", { trigger: "STARTUP" }, { jobKey: "schedule_reconciles:startup" });
  }
  return runner;
}
