/**
 * The job runner (graphile-worker). Jobs live in PostgreSQL, so any number of worker processes
 * can run side by side on one database.
 */
import { EventEmitter } from "node:events";
import { Logger as WorkerLogger, parseCronItems, run, type CronItem, type Runner, type WorkerEvents } from "graphile-worker";
import { env } from "../config.ts";
import { pool } from "../db/client.ts";
import { log } from "../log.ts";
import { taskList } from "../tasks/index.ts";
import { enqueue } from "./enqueue.ts";
import { startLiveness, type LivenessOptions } from "./liveness.ts";

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
  /** Heartbeat and dead-worker recovery (Default: WORKER_DEAD_AFTER_SECONDS; see liveness.ts). */
  liveness?: Partial<LivenessOptions>;
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

/**
 * Starts graphile-worker with this process's heartbeat and dead-worker recovery; `stop()` stops
 * both (and removes the heartbeat row) after the running jobs finish.
 */
export async function startWorker(options: WorkerOptions): Promise<Runner> {
  const cron = (options.cron ?? []).filter((item) => item.task in taskList);
  // graphile-worker locks jobs with its pool's id; the pool is created inside run().
  const events: WorkerEvents = new EventEmitter();
  let workerId: string | undefined;
  events.once("pool:create", ({ workerPool }) => (workerId = workerPool.id));
  const runner = await run({
    pgPool: pool(),
    events,
    concurrency: options.concurrency,
    taskList,
    noHandleSignals: true,
    pollInterval: options.pollInterval ?? 2_000,
    parsedCronItems: parseCronItems(cron),
    logger: workerLogger(),
  });
  if (!workerId) throw new Error("graphile-worker started without announcing its worker id");
  const liveness = await startLiveness(workerId, { deadAfterMs: env().WORKER_DEAD_AFTER_SECONDS * 1000, ...options.liveness });
  const stopRunner = runner.stop.bind(runner);
  runner.stop = async (reason?: string) => {
    try {
      await stopRunner(reason);
    } finally {
      await liveness.stop();
    }
  };
  if (options.reconcileAtStartup) {
    // Keyed: processes starting together queue one fan-out, not one each.
    await enqueue("schedule_reconciles", { trigger: "STARTUP" }, { jobKey: "schedule_reconciles:startup" });
  }
  return Object.assign(runner, { workerId });
}
