/**
 * Stopping a long-running process (`serve`, `worker`) on SIGTERM/SIGINT, within the 10 s a
 * supervisor, a container runtime or a user at a terminal gives.
 *
 * - Every stop signal is handled, not only the first: Ctrl-C reaches the process from the terminal
 *   AND forwarded by npm/tsx, and a repeated signal without a handler would kill it mid-shutdown
 *   (dropping work and orphaning the embedded PostgreSQL). Repeats are ignored.
 * - Steps run in order; a failing step is logged and the next one still runs.
 * - A deadline (DEADLINE_MS) bounds the whole: the `onDeadline` last resort runs (release this
 *   worker's jobs and runs, see worker/runner.ts `forceRelease`), bounded itself, then the process
 *   exits 1. The embedded database's `exit` hook still signals its postmaster.
 */
import { log } from "./log.ts";

/** When the last resort starts (the process is gone by 10 s). */
export const DEADLINE_MS = 8_500;
/** How long the last resort may take. */
const LAST_RESORT_MS = 1_000;

export type StopSignal = "SIGTERM" | "SIGINT";

/** Calls `stop` on the first SIGTERM/SIGINT and keeps handling (ignoring) every later one. */
export function onStopSignals(stop: (signal: StopSignal) => unknown): void {
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) {
        log("shutdown").debug({ signal }, "already shutting down");
        return;
      }
      stopping = true;
      void stop(signal);
    });
  }
}

export interface ShutdownPlan {
  /** Groups run one after the other; the steps of a group run side by side. */
  steps: { name: string; run: () => Promise<unknown> }[][];
  /** The last resort at the deadline (bounded to LAST_RESORT_MS). */
  onDeadline?: () => Promise<unknown>;
  /** Exits the process (Default: process.exit); tests pass their own. */
  exit?: (code: number) => void;
}

/** Runs the plan, then exits 0; at the deadline runs `onDeadline` and exits 1. */
export async function runShutdown(plan: ShutdownPlan): Promise<void> {
  const logger = log("shutdown");
  const exit = plan.exit ?? ((code: number) => process.exit(code));
  let done = false;
  let timedOut = false;
  const timer = setTimeout(() => {
    if (done) return;
    timedOut = true;
    logger.error({ deadlineMs: DEADLINE_MS }, "shutdown did not finish in time; releasing this worker's jobs and exiting");
    const lastResort = (plan.onDeadline?.() ?? Promise.resolve()).catch((err: Error) =>
      logger.error({ err: err.message }, "releasing work at the deadline failed"),
    );
    void Promise.race([lastResort, new Promise((r) => setTimeout(r, LAST_RESORT_MS))]).finally(() => exit(1));
  }, DEADLINE_MS);
  timer.unref();
  for (const group of plan.steps) {
    await Promise.all(
      group.map(async (step) => {
        const started = Date.now();
        await step.run().catch((err: Error) => logger.error({ err: err.message, step: step.name }, "shutdown step failed"));
        logger.debug({ step: step.name, ms: Date.now() - started }, "shutdown step done");
      }),
    );
  }
  done = true;
  clearTimeout(timer);
  if (!timedOut) exit(0);
}
