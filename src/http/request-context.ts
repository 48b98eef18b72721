/**
 * Per-request correlation: the id a caller sent (x-request-id or x-correlation-id, when it is a
 * safe token) or a new one, put into OpenTelemetry baggage so every span, log line, stored row
 * and enqueued job of the request carries it.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { context, propagation, trace } from "@opentelemetry/api";
import { CORRELATION_BAGGAGE_KEY } from "../log.ts";

const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function correlationIdFrom(headers: IncomingMessage["headers"]): string {
  for (const name of ["x-request-id", "x-correlation-id"]) {
    const value = headers[name];
    const candidate = Array.isArray(value) ? value[0] : value;
    if (candidate && VALID_ID.test(candidate)) return candidate;
  }
  return randomUUID();
}

const ids = new WeakMap<IncomingMessage, string>();

export function requestIdOf(req: IncomingMessage): string {
  return ids.get(req) ?? correlationIdFrom(req.headers);
}

/**
 * Wraps a node request listener: tags the request with its correlation id, sets `x-request-id`
 * and `x-trace-id` on the response, and runs the listener inside a context whose baggage holds
 * the id.
 */
export function withRequestContext(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const id = correlationIdFrom(req.headers);
    ids.set(req, id);
    const span = trace.getActiveSpan();
    span?.setAttribute("calsync.correlation_id", id);
    const traceId = span?.spanContext().traceId ?? randomUUID().replaceAll("-", "");
    res.setHeader("x-request-id", id);
    res.setHeader("x-trace-id", traceId);
    const baggage = (propagation.getBaggage(context.active()) ?? propagation.createBaggage()).setEntry(
      CORRELATION_BAGGAGE_KEY,
      { value: id },
    );
    context.with(propagation.setBaggage(context.active(), baggage), () => listener(req, res));
  };
}
