/**
 * Operator actions on stored webhook events (the GraphQL layer calls these, never the inbox).
 *
 * `retryWebhookEvent`:
 * - FAILED (or stuck RECEIVED): back to RECEIVED with a new processing job, continuing the
 *   event's own trace (the carrier stored at receipt), so the retry is part of it;
 * - UNMATCHED: matched again (webhooks/match.ts); when it now names a company it becomes
 *   RECEIVED with its job, else the caller learns why it still matches nothing;
 * - anything else (PROCESSED, IGNORED, INVALID): nothing to retry, a BAD_USER_INPUT.
 * Each retry writes an audit event for the event's company.
 */
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { db } from "../db/client.ts";
import type { WebhookEventStatus } from "../generated/prisma/enums.ts";
import { NotFoundError, UserInputError } from "./errors.ts";
import { PROCESS_MAX_ATTEMPTS } from "../webhooks/inbox.ts";
import { carrierOf, rematchUnmatched } from "../webhooks/match.ts";
import { enqueue } from "../worker/enqueue.ts";
import { audit } from "./audit.ts";

const RETRYABLE: WebhookEventStatus[] = ["FAILED", "RECEIVED"];

export async function retryWebhookEvent(eventId: string, actor: string): Promise<void> {
  const event = await db().webhookEvent.findUnique({
    where: { id: eventId },
    select: { companyId: true, status: true, traceCarrier: true, calcomEventTypeId: true, bookingUid: true, calcomBookingId: true },
  });
  if (!event) throw new NotFoundError("WebhookEvent");
  if (event.status === "UNMATCHED") return retryUnmatched(eventId, actor, event);
  const companyId = event.companyId;
  if (!companyId || !RETRYABLE.includes(event.status)) {
    throw new UserInputError(`Only FAILED, RECEIVED or UNMATCHED events can be retried; this one is ${event.status}.`, "id");
  }
  const carrier = carrierOf(event.traceCarrier);
  await db().$transaction(async (tx) => {
    const { count } = await tx.webhookEvent.updateMany({
      where: { id: eventId, status: { in: RETRYABLE } },
      data: { status: "RECEIVED" },
    });
    if (count === 0) throw new UserInputError("The event was processed in the meantime.", "id");
    const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : context.active();
    await context.with(parent, () =>
      enqueue("process_webhook_event", { eventId }, { maxAttempts: PROCESS_MAX_ATTEMPTS }, tx),
    );
    await audit(companyId, actor, "webhook_event.retried", { eventId, previousStatus: event.status }, tx);
  });
}

async function retryUnmatched(
  eventId: string,
  actor: string,
  keys: { calcomEventTypeId: number | null; bookingUid: string | null; calcomBookingId: number | null },
): Promise<void> {
  const result = await rematchUnmatched({ ids: [eventId] });
  const after = await db().webhookEvent.findUniqueOrThrow({ where: { id: eventId }, select: { companyId: true, status: true } });
  if (result.matched + result.duplicates > 0 && after.companyId) {
    await audit(after.companyId, actor, "webhook_event.retried", { eventId, previousStatus: "UNMATCHED" });
    return;
  }
  if (after.status !== "UNMATCHED") return; // matched by a concurrent re-match in the meantime
  const named = [
    keys.calcomEventTypeId !== null ? `no single company has a service for event type ${keys.calcomEventTypeId}` : null,
    keys.bookingUid !== null ? "no company holds its booking uid" : null,
    keys.calcomBookingId !== null ? `no single company holds booking ${keys.calcomBookingId}` : null,
  ].filter((x) => x !== null);
  throw new UserInputError(
    named.length > 0
      ? `The event still matches no company: ${named.join("; ")}. It is matched again after every successful sync.`
      : "The event names no event type and no booking, so it cannot be matched to a company.",
    "id",
  );
}
