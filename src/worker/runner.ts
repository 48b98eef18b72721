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
  /**
   * Queue a STARTUP reconcile of every connected company once the worker runs, covering the time
   * calsync was down (Default: false; `serve` and `worker` turn it on).
   */
  reconcileAtStartup?: boolean;
  /** Running jobs' time to finish after stop() before their abort signal fires (Default: SHUTDOWN_GRACE_MS). */
  shutdownGraceMs?: number;
  /** Heartbeat and dead-worker recovery (Default: WORKER_DEAD_AFTER_SECONDS; see liveness.ts). */
  liveness?: Partial<LivenessOptions>;
}

/**
 * How long running jobs may go on after a stop is asked for, before their abort signal fires
 * (Default here: 2 s, so a shutdown ends well within the 10 s a supervisor gives; see abort.ts).
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

/** The worker of this process, as its callers see it across restarts. */
export interface WorkerHandle {
  /** The current graphile-worker worker id (a new one after a restart). */
  readonly workerId: string;
  /** graphile-worker's events, of every incarnation (one emitter for all of them). */
  readonly events: WorkerEvents;
  /** Lets running jobs finish, stops heartbeat and recovery, removes the heartbeat row. */
  stop(): Promise<void>;
}

const RESTART_BACKOFF_MS = [250, 500, 1_000, 2_000, 5_000, 10_000];

/**
 * Starts graphile-worker with this process's heartbeat and dead-worker recovery, and keeps it
 * running: graphile-worker shuts its pool down when it cannot record a job's outcome (e.g. the
 * database went away mid-job) and rejects `runner.promise`, which would otherwise crash the
 * process with an unhandled rejection. The supervisor logs that, releases the dead pool's jobs
 * at once (they would otherwise wait for another worker's recovery) and starts a new pool, with
 * backoff while the database stays down.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const logger = log("worker");
  const events: WorkerEvents = new EventEmitter();
  let stopping = false;
  let current = await startOnce(options, events);
  let restarting: Promise<void> = Promise.resolve();
  if (options.reconcileAtStartup) {
    // Keyed: processes starting together queue one fan-out, not one each.
    await enqueue("schedule_reconciles", { trigger: "STARTUP" }, { jobKey: "schedule_reconciles:startup" });
  }

  const supervise = (incarnation: Incarnation) => {
    let restarted = false;
    const restart = (why: string) => {
      if (restarted || stopping || incarnation !== current) return;
      restarted = true;
      logger.error({ workerId: incarnation.workerId, err: why }, "worker stopped unexpectedly; restarting it");
      // Its shutdown may wait on the database (outcome writes retried for minutes): do not wait for it.
      void incarnation.runner.kill().catch(() => {});
      restarting = (async () => {
        await incarnation.liveness.stop({ releaseOwnJobs: true });
        for (let attempt = 0; ; attempt++) {
          if (stopping) return;
          try {
            current = await startOnce(options, events);
            supervise(current);
            logger.info({ workerId: current.workerId, previousWorkerId: incarnation.workerId }, "worker restarted");
            return;
          } catch (e) {
            const wait = RESTART_BACKOFF_MS[Math.min(attempt, RESTART_BACKOFF_MS.length - 1)]!;
            logger.warn({ err: (e as Error).message, retryInMs: wait }, "worker could not restart yet");
            await new Promise((r) => setTimeout(r, wait));
          }
        }
      })();
    };
    // graphile-worker starts a graceful shutdown of its own when it cannot record outcomes; that
    // shutdown can hang while the database is away, so the restart begins at the event.
    const onShutdown = ({ workerPool, message }: { workerPool: { id: string }; message: string }) => {
      if (workerPool.id === incarnation.workerId) restart(message);
    };
    events.on("pool:gracefulShutdown", onShutdown);
    void incarnation.runner.promise
      .then(
        () => "stopped",
        (err: unknown) => (err as Error)?.message ?? String(err),
      )
      .then((why) => {
        events.removeListener("pool:gracefulShutdown", onShutdown);
        restart(why);
      });
  };
  supervise(current);

  return {
    get workerId() {
      return current.workerId;
    },
    events,
    stop: async () => {
      stopping = true;
      await restarting;
      const last = current;
      try {
        await last.runner.stop();
      } catch {
        /* already stopped (it failed on its own) */
      }
      try {
        // Jobs interrupted by the stop are due again at once, for another worker (abort.ts).
        await releaseWorker(last.workerId);
      } finally {
        await last.liveness.stop();
      }
    },
  };
}

/**
 * The last resort of a process that must exit before its jobs ended (its shutdown deadline):
 * unlocks every job and queue of this worker and puts its running sync runs back to QUEUED, so
 * another worker takes them at once instead of after graphile-worker's 4-hour lock timeout.
 */
export async function forceRelease(worker: WorkerHandle): Promise<void> {
  await requeueActiveRuns();
  await releaseWorker(worker.workerId);
}

interface Incarnation {
  runner: Runner;
  workerId: string;
  liveness: Awaited<ReturnType<typeof startLiveness>>;
}

async function startOnce(options: WorkerOptions, events: WorkerEvents): Promise<Incarnation> {
  const cron = (options.cron ?? []).filter((item) => item.task in taskList);
  // graphile-worker locks jobs with its pool's id; the pool is created inside run().
  let workerId: string | undefined;
  const onPool = ({ workerPool }: { workerPool: { id: string } }) => (workerId = workerPool.id);
  events.once("pool:create", onPool);
  let runner: Runner;
  try {
    runner = await run({
      pgPool: pool(),
      events,
      concurrency: options.concurrency,
      taskList,
      noHandleSignals: true,
      pollInterval: options.pollInterval ?? 2_000,
      parsedCronItems: parseCronItems(cron),
      logger: workerLogger(),
      preset: {
        worker: {
          // Batched outcome writes (delay 0: the same tick) route a failed write into the pool's
          // error handling (retries, then a graceful shutdown the supervisor restarts from)
          // instead of an unhandled rejection that kills the process.
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
          // Then helpers.abortSignal fires: Cal.com calls and waits end with `Interrupted` (abort.ts).
          gracefulShutdownAbortTimeout: options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS,
        },
      },
    });
  } finally {
    events.removeListener("pool:create", onPool);
  }
  if (!workerId) throw new Error("graphile-worker started without announcing its worker id");
  const liveness = await startLiveness(workerId, { deadAfterMs: env().WORKER_DEAD_AFTER_SECONDS * 1000, ...options.liveness });
  return { runner, workerId, liveness };
}
