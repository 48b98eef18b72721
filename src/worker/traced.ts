/**
 * One wrapper for every task: validates the payload with the task's zod schema, continues the
 * enqueuing request's trace (a CONSUMER span whose parent is the carrier in `_trace`, with a link
 * to it), restores the correlation id from baggage, and logs failures. A job without a carrier
 * (cron) starts its own root trace.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Link } from "@opentelemetry/api";
import type { JobHelpers, Task } from "graphile-worker";
import type { z } from "zod";
import { CORRELATION_BAGGAGE_KEY, log } from "../log.ts";
import { jobDuration, jobsTotal } from "../metrics.ts";
import { Interrupted, isAbort, noteInterrupted } from "./abort.ts";

const tracer = trace.getTracer("calsync");

export interface TaskDefinition<S extends z.ZodType> {
  name: string;
  schema: S;
  run: (payload: z.output<S>, helpers: JobHelpers) => Promise<void>;
}

export function defineTask<S extends z.ZodType>(def: TaskDefinition<S>): TaskDefinition<S> {
  return def;
}

export class InvalidPayloadError extends Error {
  override name = "InvalidPayloadError";
}

function carrierOf(payload: unknown): Record<string, string> | undefined {
  if (!payload || typeof payload !== "object" || !("_trace" in payload)) return undefined;
  const carrier = (payload as { _trace: unknown })._trace;
  if (!carrier || typeof carrier !== "object") return undefined;
  return Object.fromEntries(
    Object.entries(carrier as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
}

export function traced<S extends z.ZodType>(def: TaskDefinition<S>): Task {
  const logger = log("worker");
  return async (payload, helpers) => {
    const carrier = carrierOf(payload);
    let parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
    const producer = trace.getSpanContext(parent);
    const links: Link[] = producer ? [{ context: producer }] : [];
    let correlationId = propagation.getBaggage(parent)?.getEntry(CORRELATION_BAGGAGE_KEY)?.value;
    if (!correlationId) {
      correlationId = `job-${helpers.job.id}`;
      const baggage = propagation.createBaggage({ [CORRELATION_BAGGAGE_KEY]: { value: correlationId } });
      parent = propagation.setBaggage(parent, baggage);
    }
    await context.with(parent, () =>
      tracer.startActiveSpan(
        `${def.name} process`,
        {
          kind: SpanKind.CONSUMER,
          links,
          attributes: {
            "messaging.system": "graphile_worker",
            "messaging.operation.type": "process",
            "messaging.destination.name": def.name,
            "messaging.message.id": String(helpers.job.id),
            "calsync.job.attempt": helpers.job.attempts,
            "calsync.correlation_id": correlationId,
          },
        },
        async (span) => {
          const started = performance.now();
          let outcome: "success" | "failure" | "interrupted" = "failure";
          try {
            const parsed = def.schema.safeParse(payload);
            if (!parsed.success) {
              throw new InvalidPayloadError(
                `invalid ${def.name} payload: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"} ${i.message}`).join("; ")}`,
              );
            }
            await def.run(parsed.data, helpers);
            outcome = "success";
          } catch (err) {
            const e = err as Error;
            if (helpers.abortSignal.aborted && isAbort(err, helpers.abortSignal)) {
              // Not a failure: the worker is stopping; the job is released to another (abort.ts).
              noteInterrupted(String(helpers.job.id));
              outcome = "interrupted";
              span.addEvent("calsync.job.interrupted");
              logger.info({ task: def.name, jobId: helpers.job.id }, "job interrupted by worker shutdown; released for another worker");
              throw err instanceof Interrupted ? err : new Interrupted(def.name);
            }
            span.recordException(e);
            span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
            logger.warn(
              { task: def.name, jobId: helpers.job.id, attempt: helpers.job.attempts, err: e.message },
              "job failed",
            );
            throw err;
          } finally {
            jobsTotal.add(1, { task: def.name, outcome });
            jobDuration.record((performance.now() - started) / 1000, { task: def.name });
            span.end();
          }
        },
      ),
    );
  };
}
