/**
 * Enqueueing jobs with their trace. A job is added with graphile-worker's `add_job` SQL function
 * inside the caller's transaction, so the job exists exactly when the row that needs it commits.
 * A PRODUCER span marks the enqueue; its W3C carrier (and the baggage holding the correlation id)
 * travels in the payload as `_trace`, where the task wrapper picks it up.
 */
import { context, propagation, SpanKind, trace, type Attributes } from "@opentelemetry/api";
import type pg from "pg";
import type { Prisma } from "../generated/prisma/client.ts";
import { db } from "../db/client.ts";
import { currentCorrelationId } from "../log.ts";
import type { TaskName } from "../tasks/names.ts";

type Tx = Prisma.TransactionClient;

/**
 * Where the job is added: a Prisma transaction, or a plain pg client inside a transaction of its
 * own (the webhook inbox's hot path, which skips Prisma's interactive-transaction overhead).
 */
export type JobExecutor = Tx | pg.ClientBase;

function isPgClient(x: JobExecutor): x is pg.ClientBase {
  return !("$queryRawUnsafe" in x);
}

const ADD_JOB_SQL = `SELECT (graphile_worker.add_job(
    identifier => $1::text, payload => $2::json, queue_name => $3::text, run_at => $4::timestamptz,
    max_attempts => $5::int, job_key => $6::text, priority => $7::int
  )).id::text AS id`;

export interface JobSpec {
  /** Deduplicates/replaces a pending job with the same key (graphile-worker job_key). */
  jobKey?: string;
  /** Jobs in one named queue run one at a time, in order. */
  queueName?: string;
  runAt?: Date;
  maxAttempts?: number;
  priority?: number;
}

export const tracer = trace.getTracer("calsync");

/** The PRODUCER span's attributes for publishing `task` (publishWith and enqueue). */
function publishAttributes(task: TaskName, payload: Record<string, unknown>): Attributes {
  return {
    "messaging.system": "graphile_worker",
    "messaging.operation.type": "send",
    "messaging.destination.name": task,
    ...(currentCorrelationId() ? { "calsync.correlation_id": currentCorrelationId()! } : {}),
    ...(typeof payload["companyId"] === "string" ? { "calsync.company_id": payload["companyId"] } : {}),
  };
}

/**
 * For a job added by the caller's own SQL (the inbox adds its job in the same statement as the
 * event row): a PRODUCER span like `enqueue`'s and the payload with its trace carrier. `add`
 * runs the statement and returns the job id, or null when it added none (then no span is
 * recorded: nothing was published).
 */
export async function publishWith(
  task: TaskName,
  payload: Record<string, unknown>,
  add: (payloadJson: string) => Promise<string | null>,
): Promise<string | null> {
  const span = tracer.startSpan(`${task} publish`, {
    kind: SpanKind.PRODUCER,
    attributes: publishAttributes(task, payload),
  });
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  let id: string | null;
  try {
    id = await add(JSON.stringify({ ...payload, _trace: carrier }));
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: 2 });
    span.end();
    throw err;
  }
  if (id !== null) {
    span.setAttribute("messaging.message.id", id);
    span.end();
  }
  return id;
}

/** Adds a job in the given transaction (or on its own); returns the job id. */
export async function enqueue(
  task: TaskName,
  payload: Record<string, unknown>,
  spec: JobSpec = {},
  tx: JobExecutor = db(),
): Promise<string> {
  return tracer.startActiveSpan(
    `${task} publish`,
    {
      kind: SpanKind.PRODUCER,
      attributes: publishAttributes(task, payload),
    },
    async (span) => {
      try {
        const carrier: Record<string, string> = {};
        propagation.inject(context.active(), carrier);
        const params = [
          task,
          JSON.stringify({ ...payload, _trace: carrier }),
          spec.queueName ?? null,
          spec.runAt ?? null,
          spec.maxAttempts ?? null,
          spec.jobKey ?? null,
          spec.priority ?? null,
        ];
        const rows = isPgClient(tx)
          ? (await tx.query<{ id: string }>(ADD_JOB_SQL, params)).rows
          : await tx.$queryRawUnsafe<{ id: string }[]>(ADD_JOB_SQL, ...params);
        const id = rows[0]!.id;
        span.setAttribute("messaging.message.id", id);
        return id;
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: 2 });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Whether a job under `key` can still run: graphile-worker keeps a job that used up its attempts
 * in its table, but it never runs again. A run ledger (sync, reconcile) uses this to tell a run
 * that is only waiting from one that its worker abandoned.
 */
export async function jobCanStillRun(tx: Tx, key: string): Promise<boolean> {
  const jobs = await tx.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE key = ${key} AND attempts < max_attempts`;
  return (jobs[0]?.n ?? 0) > 0;
}
