/**
 * The run ledger: one `sync_runs` row per full sync, from QUEUED through RUNNING to SUCCEEDED or
 * FAILED, with counts, progress, attempts, duration, error class and message (never a key), the
 * correlation id and the trace id of the request that asked for it.
 *
 * One queued or running run per company: the partial unique index `sync_runs_one_active_per_company`
 * decides, so concurrent requests (two API processes, cron and a user) get the same run. Its job
 * is added in the same transaction as the row, keyed `sync_company:<company>` in the company's own
 * queue (`calcom:<company>`), which `sync_service` jobs share: a company's Cal.com work runs one
 * job at a time, and one company's backlog occupies at most one worker slot, so other companies'
 * jobs keep running beside it (fairness across companies; see also rate-budget.ts).
 *
 * A job attempt that fails with a retryable error (Cal.com unavailable or rate limited, database
 * trouble) puts the run back to QUEUED with the error and rethrows, so graphile-worker retries it
 * with backoff; the last attempt, or a non-retryable error (bad key, bad response, safety valve),
 * makes it FAILED and the job ends quietly: the ledger is the record.
 */
import { trace } from "@opentelemetry/api";
import type { CalcomClient } from "../calcom/client.ts";
import { CalcomError, RateLimited, Unavailable } from "../calcom/errors.ts";
import { NotConnected, clientForCompany } from "../calcom/for-company.ts";
import { db } from "../db/client.ts";
import { NotTeamAdmin, reverifyOwnership } from "../domain/calcom-ownership.ts";
import type { SyncRun, SyncTrigger } from "../generated/prisma/client.ts";
import { currentCorrelationId, log } from "../log.ts";
import { syncRunDuration, syncRunsTotal } from "../metrics.ts";
import { rematchUnmatched } from "../webhooks/match.ts";
import { Interrupted, isAbort, throwIfAborted } from "../worker/abort.ts";
import { enqueue, jobCanStillRun } from "../worker/enqueue.ts";
import { uuidv7 } from "../db/uuid.ts";
import { syncCatalogue, TooManyRemoteDeletions, type SyncProgress, type SyncResult } from "./engine.ts";
import { SYNC_RUN_CHANNEL, notifyRunChanged, recordProgress } from "./run-events.ts";

/** graphile-worker attempts of a sync job (Default for `requestSync`). */
export const SYNC_MAX_ATTEMPTS = 5;

/** A QUEUED/RUNNING run with no job and no news for this long is treated as abandoned. */
const ABANDONED_AFTER_MS = 60 * 60 * 1000;

/** The graphile-worker queue of a company's Cal.com jobs. */
export function companyQueue(companyId: string): string {
  return `calcom:${companyId}`;
}

export function syncJobKey(companyId: string): string {
  return `sync_company:${companyId}`;
}

export function isTerminal(status: SyncRun["status"]): boolean {
  return status === "SUCCEEDED" || status === "FAILED";
}

/** Errors worth another attempt: Cal.com down or rate limited, and anything not understood (database hiccups). */
export function isRetryable(err: unknown): boolean {
  if (err instanceof Unavailable || err instanceof RateLimited) return true;
  if (err instanceof CalcomError || err instanceof TooManyRemoteDeletions || err instanceof NotConnected) return false;
  if (err instanceof NotTeamAdmin) return false;
  return true;
}

function activeTraceId(): string | null {
  const id = trace.getActiveSpan()?.spanContext().traceId;
  return id && !/^0+$/.test(id) ? id : null;
}

/** The error's own words on one short line (our errors never carry keys or response bodies). */
function errorMessage(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").trim();
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

function errorClass(err: unknown): string {
  return err instanceof Error ? err.name : "Error";
}

export interface RequestSyncOptions {
  force?: boolean;
  /** Attempts of the job (Default: SYNC_MAX_ATTEMPTS). */
  maxAttempts?: number;
}

export interface RequestedSync {
  run: SyncRun;
  /** False when a queued or running run already existed and is returned instead. */
  created: boolean;
}

/**
 * Queues a full sync of the company and its job, or returns the run already queued or running.
 * The caller checks that the company is connected.
 */
export async function requestSync(companyId: string, trigger: SyncTrigger, options: RequestSyncOptions = {}): Promise<RequestedSync> {
  return claimRun(companyId, trigger, "QUEUED", options.force ?? false, async (run, tx) => {
    await enqueue(
      "sync_company",
      { runId: run.id, companyId },
      { jobKey: syncJobKey(companyId), queueName: companyQueue(companyId), maxAttempts: options.maxAttempts ?? SYNC_MAX_ATTEMPTS },
      tx,
    );
  });
}

/** Creates a RUNNING run for an in-process sync (the CLI), or returns the run already active. */
export async function startLocalRun(companyId: string, trigger: SyncTrigger, force: boolean): Promise<RequestedSync> {
  return claimRun(companyId, trigger, "RUNNING", force, async () => {});
}

type Tx = Parameters<Parameters<ReturnType<typeof db>["$transaction"]>[0]>[0];

async function claimRun(
  companyId: string,
  trigger: SyncTrigger,
  status: "QUEUED" | "RUNNING",
  force: boolean,
  afterInsert: (run: SyncRun, tx: Tx) => Promise<void>,
): Promise<RequestedSync> {
  const correlationId = currentCorrelationId() ?? `sync-${uuidv7()}`;
  const traceId = activeTraceId();
  // A run that commits between our conflict and our read is gone from the active set: try again.
  for (let round = 0; round < 5; round++) {
    const result = await db().$transaction(async (tx) => {
      const id = uuidv7();
      const started = status === "RUNNING" ? new Date() : null;
      // Waits for a concurrent insert of the same company to commit, then does nothing. The
      // NOTIFY of a new run goes in the same statement (one round trip less); like any NOTIFY it
      // is delivered when this transaction commits, with the run and its job.
      const inserted = await tx.$queryRaw<{ id: string }[]>`
        WITH run AS (
          INSERT INTO sync_runs (id, company_id, trigger, status, force, correlation_id, trace_id, started_at, attempts)
          VALUES (${id}::uuid, ${companyId}::uuid, ${trigger}::"SyncTrigger", ${status}::"SyncRunStatus", ${force},
                  ${correlationId}, ${traceId}, ${started}, ${status === "RUNNING" ? 1 : 0})
          ON CONFLICT (company_id) WHERE status IN ('QUEUED', 'RUNNING') DO NOTHING
          RETURNING id)
        SELECT id::text AS id, pg_notify(${SYNC_RUN_CHANNEL}, id::text)::text AS notified FROM run`;
      if (inserted.length > 0) {
        const run = await tx.syncRun.findUniqueOrThrow({ where: { id } });
        await afterInsert(run, tx);
        return { run, created: true };
      }
      const existing = await tx.syncRun.findFirst({ where: { companyId, status: { in: ["QUEUED", "RUNNING"] } } });
      if (existing && (await isAbandoned(existing, tx))) {
        await tx.syncRun.update({
          where: { id: existing.id },
          data: {
            status: "FAILED",
            finishedAt: new Date(),
            error: "abandoned: its worker stopped without finishing it",
            errorClass: "Abandoned",
          },
        });
        await notifyRunChanged(existing.id, tx);
        return "retry" as const;
      }
      return existing ? { run: existing, created: false } : null;
    });
    if (result && result !== "retry") return result;
  }
  throw new Error(`could not queue a sync for company ${companyId}: the active run kept changing`);
}

async function isAbandoned(run: SyncRun, tx: Tx): Promise<boolean> {
  const last = Math.max(run.queuedAt.getTime(), run.startedAt?.getTime() ?? 0);
  if (Date.now() - last < ABANDONED_AFTER_MS) return false;
  return !(await jobCanStillRun(tx, syncJobKey(run.companyId)));
}

export interface ExecuteOptions {
  /** This attempt, from 1. */
  attempt: number;
  /** The last attempt; its failure is final (Default: attempt, i.e. this one is the last). */
  maxAttempts?: number;
  /** Use this client instead of the company's stored connection (tests, tools). */
  client?: CalcomClient;
  /**
   * The job's abort signal (graphile-worker's `helpers.abortSignal`): a worker shutting down
   * interrupts Cal.com requests and waits; the run goes back to QUEUED and `Interrupted` is thrown.
   */
  signal?: AbortSignal;
  /** In-process progress (the CLI's bar), besides the ledger row and its NOTIFY. */
  onProgress?: (p: SyncProgress) => void;
  chunkSize?: number;
}

export interface RunOutcome {
  run: SyncRun;
  result?: SyncResult;
}

/**
 * Runs the sync of a QUEUED or RUNNING run and records it. Returns the finished run (SUCCEEDED
 * or FAILED); rethrows a retryable error while attempts remain (the run is QUEUED again); returns
 * null when the run no longer exists or has already finished (a repeated job does nothing).
 */
export async function executeRun(runId: string, options: ExecuteOptions): Promise<RunOutcome | null> {
  throwIfAborted(options.signal, "sync run");
  const existing = await db().syncRun.findUnique({ where: { id: runId } });
  if (!existing || isTerminal(existing.status)) return null;
  activeRuns.add(runId);
  try {
    return await executeClaimedRun(runId, existing, options);
  } finally {
    activeRuns.delete(runId);
  }
}

/** Runs this process is executing now (see requeueActiveRuns). */
const activeRuns = new Set<string>();

/**
 * Last resort of a process that must exit while runs are still executing (its shutdown deadline):
 * puts them back to QUEUED, so the next worker picks them up instead of finding them RUNNING.
 */
export async function requeueActiveRuns(): Promise<number> {
  if (activeRuns.size === 0) return 0;
  const { count } = await db().syncRun.updateMany({
    where: { id: { in: [...activeRuns] }, status: "RUNNING" },
    data: { status: "QUEUED", progress: 0, error: new Interrupted("sync run").message, errorClass: "Interrupted" },
  });
  return count;
}

async function executeClaimedRun(runId: string, existing: SyncRun, options: ExecuteOptions): Promise<RunOutcome> {
  const span = trace.getActiveSpan();
  span?.setAttributes({ "calsync.company_id": existing.companyId, "calsync.sync_run_id": runId, "calsync.sync.attempt": options.attempt });
  const startedAt = existing.startedAt ?? new Date();
  const start = {
    status: "RUNNING" as const,
    startedAt,
    attempts: Math.max(options.attempt, existing.attempts),
    progress: 0,
    traceId: existing.traceId ?? activeTraceId(),
  };
  // A run this process claimed RUNNING (startLocalRun: `calsync sync`) already reads exactly this,
  // and its claim sent the NOTIFY: writing it again would change nothing and cost two round trips.
  // Every real change (a worker's QUEUED -> RUNNING, a retry's attempts) is written and NOTIFYed.
  const unchanged =
    existing.status === start.status && existing.startedAt !== null && existing.attempts === start.attempts &&
    existing.progress === start.progress && existing.traceId === start.traceId;
  let run = unchanged ? existing : await db().syncRun.update({ where: { id: runId }, data: start });
  if (!unchanged) await notifyRunChanged(runId);
  const logger = log("sync");

  try {
    const client = options.client ?? (await clientForCompany(run.companyId, {}, options.signal));
    // A team connection is re-proved before each sync: a user who lost the team's admin role
    // stops syncing it and stops receiving its unscoped webhooks (calcom-ownership.ts).
    await reverifyOwnership(run.companyId, client);
    const result = await syncCatalogue({
      companyId: run.companyId,
      client,
      force: run.force,
      ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
      onProgress: async (p) => {
        options.onProgress?.(p);
        await recordProgress(runId, p);
      },
    });
    const finishedAt = new Date();
    const { chunks: _chunks, skips, holds, ...counts } = result;
    run = await db().syncRun.update({
      where: { id: runId },
      data: {
        ...counts,
        skips: skips.map((k) => ({ ...k })),
        holds: holds.map((k) => ({ ...k })),
        status: "SUCCEEDED",
        progress: 1,
        finishedAt,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        error: null,
        errorClass: null,
      },
    });
    await notifyRunChanged(runId);
    options.onProgress?.({ ...counts, progress: 1 });
    record(run, "succeeded");
    logger.info({ companyId: run.companyId, runId, ...counts, durationMs: run.durationMs }, "sync succeeded");
    // The sync may have brought services for event types that unmatched webhooks name.
    await rematchUnmatched().catch((err: unknown) =>
      logger.warn({ err: errorMessage(err) }, "re-matching unmatched webhook events failed; the next sync retries"),
    );
    return { run, result };
  } catch (err) {
    if (isAbort(err, options.signal)) {
      // A shutdown, not a failure: QUEUED again at once, this attempt not counted (worker/abort.ts).
      run = await db().syncRun.update({
        where: { id: runId },
        data: { status: "QUEUED", progress: 0, created: 0, updated: 0, unchanged: 0, remoteDeleted: 0, error: new Interrupted("sync run").message, errorClass: "Interrupted" },
      });
      await notifyRunChanged(runId);
      logger.info({ companyId: run.companyId, runId }, "sync interrupted by worker shutdown; queued for another worker");
      throw err instanceof Interrupted ? err : new Interrupted("sync run");
    }
    const lastAttempt = options.attempt >= (options.maxAttempts ?? options.attempt);
    const retry = isRetryable(err) && !lastAttempt;
    const finishedAt = new Date();
    // The apply is one transaction: nothing of this attempt was committed, so no counts either.
    run = await db().syncRun.update({
      where: { id: runId },
      data: {
        status: retry ? "QUEUED" : "FAILED",
        skipped: 0,
        skips: [],
        heldForLinking: 0,
        holds: [],
        created: 0,
        updated: 0,
        unchanged: 0,
        remoteDeleted: 0,
        error: errorMessage(err),
        errorClass: errorClass(err),
        ...(retry ? { progress: 0 } : { finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime() }),
      },
    });
    await notifyRunChanged(runId);
    const fields = { companyId: run.companyId, runId, attempt: options.attempt, errorClass: run.errorClass, err: run.error };
    if (retry) {
      logger.warn(fields, "sync attempt failed; will retry");
      throw err;
    }
    logger.error(fields, "sync failed");
    record(run, "failed");
    return { run };
  }
}

function record(run: SyncRun, outcome: "succeeded" | "failed"): void {
  syncRunsTotal.add(1, { trigger: run.trigger, outcome });
  if (run.durationMs !== null) syncRunDuration.record(run.durationMs / 1000);
}
