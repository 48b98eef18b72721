/**
 * Shutdown never strands work.
 *
 * When a worker stops (SIGTERM/SIGINT), graphile-worker stops taking jobs, waits for the running
 * ones, and after `gracefulShutdownAbortTimeout` aborts `helpers.abortSignal`. Our tasks honour
 * it: Cal.com requests, their retry and 429 waits and the rate-budget waits are abortable, and a
 * task whose signal fired throws `Interrupted`. graphile-worker then records the attempt as failed
 * (with backoff) and unlocks the job and its queue; `releaseWorker` afterwards makes each
 * such job due NOW and gives its attempt back, so another worker takes it at once and a shutdown
 * never uses up a job's attempts. A sync run interrupted this way goes back to QUEUED (never left
 * RUNNING). Should a job not end even then, the process's last resort before its exit deadline is
 * `force_unlock_workers` on its own worker id (see runner.ts).
 */
import { pool } from "../db/client.ts";
import { log } from "../log.ts";

/** The work stopped because its worker is shutting down; it is retried at once elsewhere. */
export class Interrupted extends Error {
  override name = "Interrupted";
  constructor(what = "work") {
    super(`${what} interrupted: the worker is shutting down; another worker takes it over`);
  }
}

/** Throws `Interrupted` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw new Interrupted(what);
}

/** True for the errors an aborted signal produces (ours, and DOMException AbortError from timers/fetch). */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (err instanceof Interrupted) return true;
  const name = (err as { name?: unknown } | null)?.name;
  return name === "AbortError" && (signal === undefined || signal.aborted);
}

/** Settles like `work`, or rejects with `Interrupted` as soon as the signal fires. */
export async function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, what?: string): Promise<T> {
  if (!signal) return work;
  throwIfAborted(signal, what);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new Interrupted(what));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort!);
  }
}

/** Jobs of this process that ended with `Interrupted` (job ids), released once the pool stopped. */
const interrupted = new Set<string>();

export function noteInterrupted(jobId: string): void {
  interrupted.add(jobId);
}

/**
 * Releases what this worker (graphile-worker's pool id) still holds, once its pool has stopped:
 * every job and queue lock it holds (`force_unlock_workers`: only this worker's, so it is safe
 * beside any number of other workers), and each job that ended with `Interrupted` becomes due now
 * with its attempt given back. graphile-worker records a failed attempt without awaiting it, so
 * this may run before or after that write; either way the job ends unlocked and due (its write
 * matches only rows still locked by this worker).
 */
export async function releaseWorker(workerId: string): Promise<void> {
  const ids = [...interrupted];
  interrupted.clear();
  const client = await pool().connect();
  let failed: Error | undefined;
  try {
    await client.query("BEGIN");
    const requeued = ids.length
      ? await client.query(
          `UPDATE graphile_worker._private_jobs
              SET run_at = now(), attempts = greatest(attempts - 1, 0), last_error = $3,
                  locked_at = NULL, locked_by = NULL
            WHERE id = ANY($1::bigint[]) AND (locked_by IS NULL OR locked_by = $2)`,
          [ids, workerId, new Interrupted("job").message],
        )
      : { rowCount: 0 };
    await client.query("SELECT graphile_worker.force_unlock_workers(ARRAY[$1::text])", [workerId]);
    await client.query("COMMIT");
    if (ids.length) log("worker").info({ jobs: requeued.rowCount ?? 0 }, "interrupted jobs released for another worker");
  } catch (err) {
    failed = err as Error;
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release(failed);
  }
}
