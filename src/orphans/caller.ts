/**
 * Who changes the catalogue, and whether they may. Every function in src/orphans/ takes a
 * `Caller`: a GraphQL principal (the admin token, or one company's token), the CLI, or the system
 * (jobs). A company token may act on its own company only; anything else is FORBIDDEN and is
 * refused before a single row or Cal.com object is touched.
 */
import { context, propagation, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import { randomUUID } from "node:crypto";
import { canSeeCompany, type Principal } from "../auth/principal.ts";
import { actorOf } from "../domain/audit.ts";
import { CORRELATION_BAGGAGE_KEY, currentCorrelationId } from "../log.ts";
import { ForbiddenError } from "../domain/errors.ts";

export type Caller = Principal | "cli" | "system";

/** "admin", "token:<id>", "cli" or "system": the audit trail's actor. */
export function actor(caller: Caller): string {
  return actorOf(caller);
}

/** Throws FORBIDDEN unless the caller may change the company's services. */
export function assertMayChange(caller: Caller, companyId: string): void {
  if (typeof caller === "string") return;
  if (!canSeeCompany(caller, companyId)) throw new ForbiddenError();
}

const tracer = trace.getTracer("calsync");

/** Context whose baggage holds a correlation id, a new `cli-<uuid>` unless one is active. */
function withCorrelationId() {
  const ctx = context.active();
  if (currentCorrelationId()) return ctx;
  const baggage = (propagation.getBaggage(ctx) ?? propagation.createBaggage()).setEntry(CORRELATION_BAGGAGE_KEY, {
    value: `cli-${randomUUID()}`,
  });
  return propagation.setBaggage(ctx, baggage);
}

/** Runs a whole CLI command under one correlation id, so all its audit rows share it. */
export function withCliCorrelation<T>(fn: () => Promise<T>): Promise<T> {
  return context.with(withCorrelationId(), fn);
}

/**
 * Runs `fn` as one INTERNAL span named `orphans.<name>` (every mutation of the workflow is one),
 * with the company and correlation id on it; Cal.com calls made inside become its children.
 * Outside a request (the CLI) a correlation id `cli-<uuid>` is put into the baggage first, so
 * the audit rows of one command share one id.
 */
export function inSpan<T>(name: string, attributes: Record<string, string | number | boolean>, fn: (span: Span) => Promise<T>): Promise<T> {
  return context.with(withCorrelationId(), () =>
    tracer.startActiveSpan(`orphans.${name}`, { attributes: prefixed(attributes) }, async (span) => {
      const correlationId = currentCorrelationId();
      if (correlationId) span.setAttribute("calsync.correlation_id", correlationId);
      try {
        return await fn(span);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        span.recordException(error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        throw err;
      } finally {
        span.end();
      }
    }),
  );
}

function prefixed(attributes: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(attributes)) out[k.includes(".") ? k : `calsync.${k}`] = v;
  return out;
}
