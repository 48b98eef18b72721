/**
 * The reconcile ledger: one `reconcile_runs` row per pass, QUEUED → RUNNING → SUCCEEDED or
 * FAILED, with its window (`since`, `until`), counts, error class and message (never a key), the
 * correlation id and trace id of whoever asked for it. Like sync runs (sync/runs.ts):
 *
 * - One queued or running run per company (partial unique index
 *   `reconcile_runs_one_active_per_company`): concurrent requests get the same run. Its job,
 *   `reconcile_company`, is added in the same transaction, in the company's Cal.com queue
 *   (`calcom:<company>`, shared with sync jobs), so one company's Cal.com work runs one job at a
 *   time and takes at most one worker slot.
 * - Cal.com errors are handled as the sync handles them (`isRetryable`): unavailable or rate
 *   limited → the run goes back to QUEUED and the job is retried with backoff; a bad key, a bad
 *   response or no connection → FAILED at once; the last attempt's failure is final.
 *
 * Unlike a sync, a pass commits page by page, so its counts are what it really did even when it
 * fails, and a retried attempt resumes at the run's `cursor`.
 *
 * The window and the watermark (`calcom_connections.bookings_reconciled_until`):
 * - `until` is fixed when the run first starts (now); retries keep it.
 * - `since` is the caller's, else the watermark minus OVERLAP, else the connection's creation minus
 *   OVERLAP (webhooks could only be missed since then; older history: `--since`).
 * - Only a SUCCEEDED run moves the watermark, to its `until`, and only forward, and only if its
 *   window reached back to the watermark (a run over a later window leaves the gap before it
 *   uncovered, so the watermark stays). A failed run leaves it where it was.
 */
import { trace } from "@opentelemetry/api";
import type { CalcomClient } from "../calcom/client.ts";
import { NotConnected, clientForCompany } from "../calcom/for-company.ts";
import { db } from "../db/client.ts";
import type { Prisma, ReconcileRun, ReconcileTrigger } from "../generated/prisma/client.ts";
import { currentCorrelationId, log } from "../log.ts";
import { reconcileRunDuration, reconcileRunsTotal } from "../metrics.ts";
import { reverifyOwnership } from "../domain/calcom-ownership.ts";
import { companyQueue, isRetryable } from "../sync/runs.ts";
import { uuidv7 } from "../db/uuid.ts";
import { enqueue, jobCanStillRun } from "../worker/enqueue.ts";
import { reconcilePass, type PageProgress, type ReconcileCounts } from "./engine.ts";

/** graphile-worker attempts of a reconcile job. */
export const RECONCILE_MAX_ATTEMPTS = 5;

/** How far each window reaches back before the watermark: clock skew and in-flight writes. */
export const OVERLAP_MS = 5 * 60 * 1000;

/** A QUEUED/RUNNING run with no live job and no news for this long is treated as abandoned. */
const ABANDONED_AFTER_MS = 60 * 60 * 1000;

type Tx = Prisma.TransactionClient;

export function reconcileJobKey(companyId: string): string {
  return `reconcile_company:${companyId}`;
}

export function isTerminal(status: ReconcileRun["status"]): boolean {
  return status === "SUCCEEDED" || status === "FAILED";
}

function activeTraceId(): string | null {
  const id = trace.getActiveSpan()?.spanContext().traceId;
  return id && !/^0+$/.test(id) ? id : null;
}

function errorMessage(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").trim();
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

export interface RequestedReconcile {
  run: ReconcileRun;
  /** False when a queued or running run already existed and is returned instead. */
  created: boolean;
}

/** Queues a reconcile of the company (and its job), or returns the one already queued or running. */
export async function requestReconcile(companyId: string, trigger: ReconcileTrigger, since: Date | null = null): Promise<RequestedReconcile> {
  return claimRun(companyId, trigger, "QUEUED", since, async (run, tx) => {
    await enqueue(
      "reconcile_company",
      { runId: run.id, companyId },
      { jobKey: reconcileJobKey(companyId), queueName: companyQueue(companyId), maxAttempts: RECONCILE_MAX_ATTEMPTS },
      tx,
    );
  });
}

/** A RUNNING run for an in-process reconcile (the CLI), or the run already active. */
export async function startLocalReconcile(companyId: string, since: Date | null): Promise<RequestedReconcile> {
  return claimRun(companyId, "MANUAL", "RUNNING", since, async () => {});
}

async function claimRun(
  companyId: string,
  trigger: ReconcileTrigger,
  status: "QUEUED" | "RUNNING",
  since: Date | null,
  afterInsert: (run: ReconcileRun, tx: Tx) => Promise<void>,
): Promise<RequestedReconcile> {
  const correlationId = currentCorrelationId() ?? `reconcile-${uuidv7()}`;
  const traceId = activeTraceId();
  for (let round = 0; round < 5; round++) {
    const result = await db().$transaction(async (tx) => {
      const id = uuidv7();
      const started = status === "RUNNING" ? new Date() : null;
      const inserted = await tx.$queryRaw<{ id: string }[]>`
        INSERT INTO reconcile_runs (id, company_id, trigger, status, since, correlation_id, trace_id, started_at, attempts)
        VALUES (${id}::uuid, ${companyId}::uuid, ${trigger}::"ReconcileTrigger", ${status}::"SyncRunStatus", ${since}::timestamptz,
                ${correlationId}, ${traceId}, ${started}::timestamptz, ${status === "RUNNING" ? 1 : 0})
        ON CONFLICT (company_id) WHERE status IN ('QUEUED', 'RUNNING') DO NOTHING
        RETURNING id::text AS id`;
      if (inserted.length > 0) {
        const run = await tx.reconcileRun.findUniqueOrThrow({ where: { id } });
        await afterInsert(run, tx);
        return { run, created: true };
      }
      const existing = await tx.reconcileRun.findFirst({ where: { companyId, status: { in: ["QUEUED", "RUNNING"] } } });
      if (existing && (await isAbandoned(existing, tx))) {
        await tx.reconcileRun.update({
          where: { id: existing.id },
          data: { status: "FAILED", finishedAt: new Date(), error: "abandoned: its worker stopped without finishing it", errorClass: "Abandoned" },
        });
        return "retry" as const;
      }
      return existing ? { run: existing, created: false } : null;
    });
    if (result && result !== "retry") return result;
  }
  throw new Error(`could not queue a reconcile for company ${companyId}: the active run kept changing`);
}

async function isAbandoned(run: ReconcileRun, tx: Tx): Promise<boolean> {
  const last = Math.max(run.queuedAt.getTime(), run.startedAt?.getTime() ?? 0);
  if (Date.now() - last < ABANDONED_AFTER_MS) return false;
  return !(await jobCanStillRun(tx, reconcileJobKey(run.companyId)));
}

export interface ExecuteReconcileOptions {
  /** This attempt, from 1. */
  attempt: number;
  /** The last attempt; its failure is final (Default: this one). */
  maxAttempts?: number;
  /** Use this client instead of the company's stored connection (tests, tools). */
  client?: CalcomClient;
  /** Bookings per page (Default: 250, Cal.com's largest). */
  pageSize?: number;
  /** In-process progress (the CLI's bar). */
  onProgress?: (run: ReconcileRun, progress: number) => void;
}

/**
 * Runs the pass of a QUEUED or RUNNING run and records it. Returns the finished run; rethrows a
 * retryable error while attempts remain (the run is QUEUED again, its cursor kept); returns null
 * when the run is gone or already finished.
 */
export async function executeReconcile(runId: string, options: ExecuteReconcileOptions): Promise<ReconcileRun | null> {
  const existing = await db().reconcileRun.findUnique({ where: { id: runId } });
  if (!existing || isTerminal(existing.status)) return null;
  const span = trace.getActiveSpan();
  span?.setAttributes({ "calsync.company_id": existing.companyId, "calsync.reconcile_run_id": runId, "calsync.reconcile.attempt": options.attempt });
  const logger = log("reconcile");
  const startedAt = existing.startedAt ?? new Date();
  let run = await db().reconcileRun.update({
    where: { id: runId },
    data: {
      status: "RUNNING",
      startedAt,
      until: existing.until ?? startedAt,
      attempts: Math.max(options.attempt, existing.attempts),
      traceId: existing.traceId ?? activeTraceId(),
    },
  });

  try {
    const connection = await db().calcomConnection.findUnique({
      where: { companyId: run.companyId },
      select: { connectedAt: true, bookingsReconciledUntil: true },
    });
    if (!connection) throw new NotConnected(run.companyId);
    if (run.since === null) {
      const base = connection.bookingsReconciledUntil ?? connection.connectedAt;
      run = await db().reconcileRun.update({ where: { id: runId }, data: { since: new Date(base.getTime() - OVERLAP_MS) } });
    }
    const since = run.since!;
    const until = run.until!;
    const client = options.client ?? (await clientForCompany(run.companyId));
    // As before a sync: a team connection is re-proved first. `GET /v2/bookings?teamId=` of a
    // team the key's user does not administer (or with no event types) narrows nothing and would
    // list that user's other bookings (calcom.md §5); NotTeamAdmin fails the run at once.
    await reverifyOwnership(run.companyId, client);
    const windowMs = until.getTime() - since.getTime();
    const counts: ReconcileCounts = { pages: run.pages, fetched: run.fetched, recovered: run.recovered, updated: run.updated, unchanged: run.unchanged };
    await reconcilePass({
      companyId: run.companyId,
      runId,
      correlationId: run.correlationId,
      client,
      from: run.cursor ?? since,
      until,
      counts,
      ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
      onPage: async (p: PageProgress) => {
        run = await db().reconcileRun.update({
          where: { id: runId },
          data: { pages: p.pages, fetched: p.fetched, recovered: p.recovered, updated: p.updated, unchanged: p.unchanged, cursor: p.cursor },
        });
        const progress = p.cursor && windowMs > 0 ? Math.min(0.99, Math.max(0, (p.cursor.getTime() - since.getTime()) / windowMs)) : 0;
        options.onProgress?.(run, progress);
      },
    });

    const finishedAt = new Date();
    run = await db().$transaction(async (tx) => {
      // Forward only, and only over a window that reached back to the watermark (see above).
      await tx.$executeRaw`
        UPDATE calcom_connections
           SET bookings_reconciled_until = ${until}::timestamptz
         WHERE company_id = ${run.companyId}::uuid
           AND ${since}::timestamptz <= coalesce(bookings_reconciled_until, connected_at)
           AND (bookings_reconciled_until IS NULL OR bookings_reconciled_until < ${until}::timestamptz)`;
      return tx.reconcileRun.update({
        where: { id: runId },
        data: { status: "SUCCEEDED", finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime(), error: null, errorClass: null },
      });
    });
    options.onProgress?.(run, 1);
    record(run, "succeeded");
    logger.info(
      { companyId: run.companyId, runId, pages: run.pages, fetched: run.fetched, recovered: run.recovered, updated: run.updated, unchanged: run.unchanged, durationMs: run.durationMs },
      "reconcile succeeded",
    );
    return run;
  } catch (err) {
    const lastAttempt = options.attempt >= (options.maxAttempts ?? options.attempt);
    const retry = isRetryable(err) && !lastAttempt;
    const finishedAt = new Date();
    run = await db().reconcileRun.update({
      where: { id: runId },
      data: {
        status: retry ? "QUEUED" : "FAILED",
        error: errorMessage(err),
        errorClass: err instanceof Error ? err.name : "Error",
        ...(retry ? {} : { finishedAt, durationMs: finishedAt.getTime() - startedAt.getTime() }),
      },
    });
    const fields = { companyId: run.companyId, runId, attempt: options.attempt, errorClass: run.errorClass, err: run.error };
    if (retry) {
      logger.warn(fields, "reconcile attempt failed; will retry from its cursor");
      throw err;
    }
    logger.error(fields, "reconcile failed; the watermark stays where it was");
    record(run, "failed");
    return run;
  }
}

function record(run: ReconcileRun, outcome: "succeeded" | "failed"): void {
  reconcileRunsTotal.add(1, { trigger: run.trigger, outcome });
  if (run.durationMs !== null) reconcileRunDuration.record(run.durationMs / 1000);
}
