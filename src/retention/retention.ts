/**
 * Retention: what calsync keeps, it keeps only as long as it must. Run daily by the `retention`
 * task (RETENTION_CRON); every step works in batches of RETENTION_BATCH_SIZE rows, each batch its
 * own short transaction that locks only its rows (`FOR UPDATE SKIP LOCKED`: rows a job is working
 * on are left for the next day), so webhook ingest and processing never wait on it.
 *
 * | step | what | after |
 * | --- | --- | --- |
 * | `payload_scrubbed` | attendee data in PROCESSED / IGNORED webhook payloads (scrub.ts) | WEBHOOK_PAYLOAD_RETENTION_DAYS (30) |
 * | `webhook_events` | PROCESSED / IGNORED events, and FAILED / INVALID / UNMATCHED ones an operator resolved | WEBHOOK_RETENTION_DAYS (90) |
 * | `sync_runs`, `reconcile_runs` | finished runs, except each company's latest | RUN_RETENTION_DAYS (90) |
 * | `audit_events` | audit lines | AUDIT_RETENTION_DAYS (365) |
 * | `failed_jobs` | graphile-worker's permanently failed jobs (its own `cleanup`; the event or run ledger keeps the error) | at once |
 *
 * Never touched: unresolved FAILED, INVALID and UNMATCHED events (work for a person, whatever
 * their age) and RECEIVED ones (work for a worker). Ages count from receipt / queueing / creation.
 * Each step's count goes to `calsync_retention_removed_total{kind}` and the log.
 */
import { makeWorkerUtils } from "graphile-worker";
import { env } from "../config.ts";
import { pool } from "../db/client.ts";
import { log } from "../log.ts";
import { retentionRemoved } from "../metrics.ts";
import { TASK_NAMES } from "../tasks/names.ts";
import { scrubPayload } from "./scrub.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

export interface RetentionPolicy {
  payloadDays: number;
  webhookDays: number;
  runDays: number;
  auditDays: number;
  batchSize: number;
}

export interface RetentionResult {
  payloadScrubbed: number;
  webhookEvents: number;
  syncRuns: number;
  reconcileRuns: number;
  auditEvents: number;
  failedJobs: number;
  /** Batches (short transactions) each step ran. */
  batches: Record<RetentionKind, number>;
}

export type RetentionKind = "payload_scrubbed" | "webhook_events" | "sync_runs" | "reconcile_runs" | "audit_events" | "failed_jobs";

export function policyFromEnv(): RetentionPolicy {
  const e = env();
  return {
    payloadDays: e.WEBHOOK_PAYLOAD_RETENTION_DAYS,
    webhookDays: e.WEBHOOK_RETENTION_DAYS,
    runDays: e.RUN_RETENTION_DAYS,
    auditDays: e.AUDIT_RETENTION_DAYS,
    batchSize: e.RETENTION_BATCH_SIZE,
  };
}

/** Runs `batch` (one short transaction) until it affects fewer rows than a full batch. */
async function inBatches(size: number, batch: () => Promise<number>, batches: Record<RetentionKind, number>, kind: RetentionKind): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await batch();
    batches[kind]++;
    total += n;
    if (n < size) return total;
  }
}

async function deleteBatch(sql: string, params: unknown[]): Promise<number> {
  const res = await pool().query(sql, params);
  return res.rowCount ?? 0;
}

async function scrubBatch(cutoff: Date, size: number): Promise<number> {
  const client = await pool().connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: string; payload: unknown }>(
      `SELECT id::text, payload FROM webhook_events
        WHERE payload_scrubbed_at IS NULL AND status IN ('PROCESSED', 'IGNORED') AND received_at < $1
        ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [cutoff, size],
    );
    if (rows.length > 0) {
      await client.query(
        `UPDATE webhook_events e SET payload = s.payload, raw_body = NULL, payload_scrubbed_at = now()
           FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::jsonb[]) AS payload) s
          WHERE e.id = s.id`,
        [rows.map((r) => r.id), rows.map((r) => JSON.stringify(scrubPayload(r.payload)))],
      );
    }
    await client.query("COMMIT");
    return rows.length;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Finished runs older than the cutoff, except the newest run of each company. */
const oldRuns = (table: "sync_runs" | "reconcile_runs") => `
  DELETE FROM ${table} WHERE id IN (
    SELECT r.id FROM ${table} r
     WHERE r.queued_at < $1 AND r.status IN ('SUCCEEDED', 'FAILED')
       AND EXISTS (SELECT 1 FROM ${table} newer WHERE newer.company_id = r.company_id AND newer.queued_at > r.queued_at)
     ORDER BY r.queued_at LIMIT $2 FOR UPDATE SKIP LOCKED)`;

export async function runRetention(policy: RetentionPolicy = policyFromEnv(), now: Date = new Date()): Promise<RetentionResult> {
  const size = policy.batchSize;
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  const counter: Record<RetentionKind, number> = { payload_scrubbed: 0, webhook_events: 0, sync_runs: 0, reconcile_runs: 0, audit_events: 0, failed_jobs: 0 };
  const result: RetentionResult = { payloadScrubbed: 0, webhookEvents: 0, syncRuns: 0, reconcileRuns: 0, auditEvents: 0, failedJobs: 0, batches: counter };

  result.webhookEvents = await inBatches(
    size,
    () =>
      deleteBatch(
        `DELETE FROM webhook_events WHERE id IN (
           SELECT id FROM webhook_events
            WHERE received_at < $1
              AND (status IN ('PROCESSED', 'IGNORED') OR (status IN ('FAILED', 'INVALID', 'UNMATCHED') AND resolved_at IS NOT NULL))
            ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [before(policy.webhookDays), size],
      ),
    counter,
    "webhook_events",
  );
  // After the deletions: no point scrubbing what is about to go.
  result.payloadScrubbed = await inBatches(size, () => scrubBatch(before(policy.payloadDays), size), counter, "payload_scrubbed");
  result.syncRuns = await inBatches(size, () => deleteBatch(oldRuns("sync_runs"), [before(policy.runDays), size]), counter, "sync_runs");
  result.reconcileRuns = await inBatches(size, () => deleteBatch(oldRuns("reconcile_runs"), [before(policy.runDays), size]), counter, "reconcile_runs");
  result.auditEvents = await inBatches(
    size,
    () =>
      deleteBatch(
        `DELETE FROM audit_events WHERE id IN (
           SELECT id FROM audit_events WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [before(policy.auditDays), size],
      ),
    counter,
    "audit_events",
  );

  // graphile-worker's own maintenance: permanently failed jobs, then queues and task names nothing uses.
  const failed = await pool().query<{ n: number }>(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE attempts >= max_attempts AND locked_at IS NULL",
  );
  const utils = await makeWorkerUtils({ pgPool: pool() });
  try {
    await utils.cleanup({ tasks: ["DELETE_PERMAFAILED_JOBS", "GC_JOB_QUEUES", "GC_TASK_IDENTIFIERS"], taskIdentifiersToKeep: [...TASK_NAMES] });
  } finally {
    await utils.release();
  }
  result.failedJobs = failed.rows[0]?.n ?? 0;
  counter.failed_jobs++;

  const kinds: [Exclude<keyof RetentionResult, "batches">, RetentionKind][] = [
    ["payloadScrubbed", "payload_scrubbed"],
    ["webhookEvents", "webhook_events"],
    ["syncRuns", "sync_runs"],
    ["reconcileRuns", "reconcile_runs"],
    ["auditEvents", "audit_events"],
    ["failedJobs", "failed_jobs"],
  ];
  for (const [key, kind] of kinds) if (result[key] > 0) retentionRemoved.add(result[key], { kind });
  log("retention").info({ ...result, policy }, "retention done");
  return result;
}
