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
import { requeueActiveRuns } from "../sync/runs.ts";
import { Interrupted, releaseWorker } from "./abort.ts";
import { enqueue } from "./enqueue.ts";
import { startLiveness, type LivenessOptions } from "./liveness.ts";

export interface WorkerOptions {
  concurrency: number;
  /** Cron items (e.g. the scheduled full sync); only tasks in the registry are scheduled. */
  cron?: CronItem[];
  /** Poll interval in ms when LISTEN/NOTIFY is missed (Default: 2000). */
  pollInterval?: number;
  /** Running jobs' time to finish after stop() before their abort signal fires (Default: SHUTDOWN_GRACE_MS). */
  shutdownGraceMs?: number;
  /**
   * Queue a STARTUP reconcile of every connected company once the worker runs, covering the time
   * calsync was down (Default: false; `serve` and `worker` turn it on).
   */
  reconcileAtStartup?: boolean;
  /** Heartbeat and dead-worker recovery (Default: WORKER_DEAD_AFTER_SECONDS; see liveness.ts). */
  liveness?: Partial<LivenessOptions>;
}

/**
 * How long running jobs may go on after a stop is asked for, before their abort signal fires
 * (Default here: 2 s, so a shutdown ends well within the 10 s a supervisor gives).
 */
export const SHUTDOWN_GRACE_MS = 2_000;

function workerLogger(): WorkerLogger {
  const logger = log("worker");
  return new WorkerLogger(() => (level, message, meta) => {
    const fields = { scope: meta?.["scope"] };
    // A job interrupted by shutdown is not an error (it is released to another worker).
    if (meta?.["error"] instanceof Interrupted) logger.debug(fields, message);
    else if (level === "error") logger.error(fields, message);
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
    gracefulShutdownAbortTimeout: options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS,
  });
  if (!workerId) throw new Error("graphile-worker started without announcing its worker id");
  const liveness = await startLiveness(workerId, { deadAfterMs: env().WORKER_DEAD_AFTER_SECONDS * 1000, ...options.liveness });
  const stopRunner = runner.stop.bind(runner);
  const id = workerId;
  runner.stop = async (reason?: string) => {
    try {
      await stopRunner(reason);
      // Jobs interrupted by the stop are due again at once, for another worker (abort.ts).
      await releaseWorker(id);
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

/**
 * The last resort of a process that must exit before its jobs ended (its shutdown deadline):
 * unlocks every job and queue of this worker and puts its running sync runs back to QUEUED, so
 * another worker takes them at once instead of after graphile-worker's 4-hour lock timeout.
 */
export async function forceRelease(runner: Runner): Promise<void> {
  const workerId = (runner as Runner & { workerId?: string }).workerId;
  await requeueActiveRuns();
  if (workerId) await releaseWorker(workerId);
}
