/**
 * Enqueueing jobs with their trace. A job is added with graphile-worker's `add_job` SQL function
 * inside the caller's transaction, so the job exists exactly when the row that needs it commits.
 * A PRODUCER span marks the enqueue; its W3C carrier (and the baggage holding the correlation id)
 * travels in the payload as `_trace`, where the task wrapper picks it up.
 */
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import type { Prisma } from "../generated/prisma/client.ts";
import { db } from "../db/client.ts";
import { currentCorrelationId } from "../log.ts";
import type { TaskName } from "../tasks/names.ts";

type Tx = Prisma.TransactionClient;

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

/** Adds a job in the given transaction (or on its own); returns the job id. */
export async function enqueue(
  task: TaskName,
  payload: Record<string, unknown>,
  spec: JobSpec = {},
  tx: Tx = db(),
): Promise<string> {
  return tracer.startActiveSpan(
    `${task} publish`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        "messaging.system": "graphile_worker",
        "messaging.operation.type": "send",
        "messaging.destination.name": task,
        ...(currentCorrelationId() ? { "calsync.correlation_id": currentCorrelationId()! } : {}),
        ...(typeof payload["companyId"] === "string" ? { "calsync.company_id": payload["companyId"] } : {}),
      },
    },
    async (span) => {
      try {
        const carrier: Record<string, string> = {};
        propagation.inject(context.active(), carrier);
        const rows = await tx.$queryRaw<{ id: string }[]>`
          SELECT (graphile_worker.add_job(
            identifier => ${task}::text,
            payload => ${JSON.stringify({ ...payload, _trace: carrier })}::json,
            queue_name => ${spec.queueName ?? null}::text,
            run_at => ${spec.runAt ?? null}::timestamptz,
            max_attempts => ${spec.maxAttempts ?? null}::int,
            job_key => ${spec.jobKey ?? null}::text,
            priority => ${spec.priority ?? null}::int
          )).id::text AS id`;
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
