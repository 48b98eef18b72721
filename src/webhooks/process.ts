/**
 * Applies one stored webhook event to the bookings, in one transaction with its status change.
 *
 * Idempotent: the event row is locked and only RECEIVED/FAILED events are applied, so a
 * re-delivered job (or two jobs for one event) applies it once.
 *
 * Ordering (Cal.com delivers in no particular order and MEETING_* come from a cron):
 * - A booking remembers `lastEventAt`, the envelope `createdAt` of the newest state change applied.
 *   A state change (CREATED, REQUESTED, RESCHEDULED, CANCELLED, REJECTED) older than that only
 *   fills in facts the booking lacks; it never overwrites status, times or title.
 * - CANCELLED, REJECTED and RESCHEDULED are final: nothing turns such a booking back into an
 *   active one, whatever the timestamps say.
 * - Events without an envelope time (flat MEETING_*) count as older than anything with one.
 *   PAID, NO_SHOW_UPDATED and MEETING_* change no status: they create a booking not seen yet
 *   (without setting `lastEventAt`, so any state change still applies) and fill in missing facts.
 * - They also record lifecycle facts, on any status (a cancelled booking may still be paid or
 *   ended): PAID sets `paidAt`, MEETING_STARTED / MEETING_ENDED set `meetingStartedAt` /
 *   `meetingEndedAt`, each once (the first event applied wins), at the envelope `createdAt`, else
 *   (flat legacy MEETING_*, whose `createdAt` is the booking's own) the time the delivery was
 *   received. The payload's startTime/endTime are the scheduled times, not when the call ran.
 * - NO_SHOW_UPDATED sets `noShowAttendees`, the number of attendees marked `noShow: true` in that
 *   delivery (a count only: no e-mails or names are kept), unless its envelope is older than
 *   `lastEventAt`. Two NO_SHOW_UPDATED between the same state changes: the last applied wins.
 * All bookings touched by one event are locked (advisory lock per uid, in sorted order) for the
 * transaction, so concurrent events of one booking apply one after the other.
 */
import { trace } from "@opentelemetry/api";
import type { Prisma } from "../generated/prisma/client.ts";
import { parseIsoDate, parseWebhookJson, type BookingFacts, type WebhookEnvelope } from "../calcom/webhook-payload.ts";
import { db } from "../db/client.ts";
import { log } from "../log.ts";
import { webhookProcessingLag } from "../metrics.ts";
import { enqueueServiceSync } from "../sync/service-sync.ts";
import { invalidateListing } from "../sync/listing-cache.ts";
import { errorLine } from "./errors.ts";
import { rematchUnmatched } from "./match.ts";

type Tx = Prisma.TransactionClient;

/** Statuses no later event changes. */
const FINAL_STATUSES: ReadonlySet<string> = new Set(["CANCELLED", "REJECTED", "RESCHEDULED"]);
const ACTIVE_STATUSES: ReadonlySet<string> = new Set(["ACCEPTED", "PENDING"]);

export type ProcessResult = "PROCESSED" | "IGNORED" | "SKIPPED";

interface BookingChange {
  uid: string;
  /** The envelope time; null = older than anything with a time. */
  at: Date | null;
  /** A state change: may overwrite status/times/title when newer, and advances lastEventAt. */
  stateful: boolean;
  /** Status to set (state changes) or to create a missing booking with. */
  status: string;
  startTime: Date | null;
  endTime: Date | null;
  title: string | null;
  calcomBookingId: number | null;
  calcomEventTypeId: number | null;
  serviceId: string | null;
  rescheduledFromUid: string | null;
  /** False: the times only serve to create a booking not seen yet (the old side of a reschedule). */
  timesAuthoritative: boolean;
  /** Lifecycle facts, set when the booking lacks them (PAID, MEETING_*). */
  paidAt: Date | null;
  meetingStartedAt: Date | null;
  meetingEndedAt: Date | null;
  /** NO_SHOW_UPDATED: attendees marked no-show; applied unless `at` is older than lastEventAt. */
  noShowAttendees: number | null;
}

/** A state change at `at` may overwrite a booking whose newest applied state change was at `last`. */
export function isNewer(at: Date | null, last: Date | null): boolean {
  if (last === null) return true;
  return at !== null && at.getTime() >= last.getTime();
}

export function isFinal(status: string): boolean {
  return FINAL_STATUSES.has(status);
}

/** Applies one change to one booking of the company. */
async function applyChange(tx: Tx, companyId: string, c: BookingChange): Promise<void> {
  // Uids are unique per company: one company's event never reads or touches another's booking.
  const existing = await tx.booking.findUnique({ where: { companyId_uid: { companyId, uid: c.uid } } });
  const cancelledAt = c.status === "CANCELLED" || c.status === "REJECTED" ? (c.at ?? new Date()) : null;

  if (!existing) {
    if (!c.startTime || !c.endTime) return; // not enough to create a booking (e.g. NO_SHOW_UPDATED)
    await tx.booking.create({
      data: {
        uid: c.uid,
        companyId,
        status: c.status,
        title: c.title,
        startTime: c.startTime,
        endTime: c.endTime,
        calcomBookingId: c.calcomBookingId,
        calcomEventTypeId: c.calcomEventTypeId,
        serviceId: c.serviceId,
        rescheduledFromUid: c.rescheduledFromUid,
        cancelledAt,
        lastEventAt: c.stateful ? c.at : null,
        paidAt: c.paidAt,
        meetingStartedAt: c.meetingStartedAt,
        meetingEndedAt: c.meetingEndedAt,
        noShowAttendees: c.noShowAttendees,
      },
    });
    return;
  }

  const data: Prisma.BookingUncheckedUpdateInput = {};
  // Facts the booking lacks are filled in whatever the order.
  if (existing.title === null && c.title !== null) data.title = c.title;
  if (existing.calcomBookingId === null && c.calcomBookingId !== null) data.calcomBookingId = c.calcomBookingId;
  if (existing.calcomEventTypeId === null && c.calcomEventTypeId !== null) data.calcomEventTypeId = c.calcomEventTypeId;
  if (existing.serviceId === null && c.serviceId !== null) data.serviceId = c.serviceId;
  if (existing.rescheduledFromUid === null && c.rescheduledFromUid !== null) data.rescheduledFromUid = c.rescheduledFromUid;
  // Lifecycle facts change no status, so they are recorded on final bookings too.
  if (existing.paidAt === null && c.paidAt !== null) data.paidAt = c.paidAt;
  if (existing.meetingStartedAt === null && c.meetingStartedAt !== null) data.meetingStartedAt = c.meetingStartedAt;
  if (existing.meetingEndedAt === null && c.meetingEndedAt !== null) data.meetingEndedAt = c.meetingEndedAt;
  if (c.noShowAttendees !== null && c.noShowAttendees !== existing.noShowAttendees && isNewer(c.at, existing.lastEventAt)) {
    data.noShowAttendees = c.noShowAttendees;
  }

  if (c.stateful && isNewer(c.at, existing.lastEventAt)) {
    if (c.title !== null) data.title = c.title;
    if (c.timesAuthoritative && c.startTime && c.endTime) {
      data.startTime = c.startTime;
      data.endTime = c.endTime;
    }
    if (c.calcomBookingId !== null) data.calcomBookingId = c.calcomBookingId;
    if (c.calcomEventTypeId !== null) data.calcomEventTypeId = c.calcomEventTypeId;
    if (c.serviceId !== null) data.serviceId = c.serviceId;
    // Final statuses stay final: no resurrection, and no switching between final statuses.
    if (c.status !== existing.status && !isFinal(existing.status)) {
      data.status = c.status;
      if (cancelledAt) data.cancelledAt = cancelledAt;
    }
    if (c.at !== null) data.lastEventAt = c.at;
  }
  if (Object.keys(data).length === 0) return;
  await tx.booking.update({ where: { id: existing.id }, data });
}

/** The company's service for the event type; when there is none, a `sync_service` job to find it. */
async function serviceFor(tx: Tx, companyId: string, eventTypeId: number | null): Promise<string | null> {
  if (eventTypeId === null) return null;
  const service = await tx.service.findUnique({
    where: { companyId_calcomEventTypeId: { companyId, calcomEventTypeId: eventTypeId } },
    select: { id: true },
  });
  if (service) return service.id;
  // A booking for an event type we do not hold: Cal.com sends no event-type webhooks, so this
  // is how new event types are found between scheduled syncs.
  await enqueueServiceSync(tx, companyId, eventTypeId);
  invalidateListing(companyId);
  return null;
}

function activeStatus(facts: BookingFacts, fallback: string): string {
  return facts.status !== null && ACTIVE_STATUSES.has(facts.status) ? facts.status : fallback;
}

/** BOOKING_NO_SHOW_UPDATED: how many attendees of this delivery are marked `noShow: true`. */
function noShowCount(payload: Record<string, unknown>): number | null {
  const attendees = payload["attendees"];
  if (!Array.isArray(attendees)) return null;
  return attendees.filter((a: unknown) => typeof a === "object" && a !== null && (a as Record<string, unknown>)["noShow"] === true).length;
}

/**
 * The booking changes an event asks for, or null when it is not about a booking we keep.
 * `receivedAt` stands in for the event time of lifecycle facts when there is no envelope time.
 */
async function changesFor(tx: Tx, companyId: string, e: WebhookEnvelope, receivedAt: Date): Promise<BookingChange[] | null> {
  const facts = e.booking;
  if (!facts?.uid) return null;
  const serviceId = await serviceFor(tx, companyId, facts.eventTypeId);
  const base = {
    uid: facts.uid,
    at: e.createdAt,
    startTime: facts.startTime,
    endTime: facts.endTime,
    title: facts.title,
    calcomBookingId: facts.bookingId,
    calcomEventTypeId: facts.eventTypeId,
    serviceId,
    rescheduledFromUid: null,
    timesAuthoritative: true,
    paidAt: null,
    meetingStartedAt: null,
    meetingEndedAt: null,
    noShowAttendees: null,
  };
  const eventTime = e.createdAt ?? receivedAt;
  switch (e.triggerEvent) {
    case "BOOKING_CREATED":
      return [{ ...base, stateful: true, status: activeStatus(facts, "ACCEPTED") }];
    case "BOOKING_REQUESTED":
      return [{ ...base, stateful: true, status: "PENDING" }];
    case "BOOKING_CANCELLED":
      // A cancellation that names the booking it was rescheduled to (Cal.com's old side of a
      // reschedule, as its bookings API shows it; reconcile sends it so) is a reschedule.
      return [{ ...base, stateful: true, status: typeof e.payload["rescheduledToUid"] === "string" ? "RESCHEDULED" : "CANCELLED" }];
    case "BOOKING_REJECTED":
      return [{ ...base, stateful: true, status: "REJECTED" }];
    case "BOOKING_RESCHEDULED": {
      const fromUid = facts.rescheduleUid;
      const changes: BookingChange[] = [
        { ...base, stateful: true, status: activeStatus(facts, "ACCEPTED"), rescheduledFromUid: fromUid },
      ];
      if (fromUid && fromUid !== facts.uid) {
        // The old booking: its own times and id are in reschedule* (a stub is created if unseen).
        const rescheduleId = e.payload["rescheduleId"];
        changes.push({
          ...base,
          uid: fromUid,
          stateful: true,
          status: "RESCHEDULED",
          timesAuthoritative: false,
          startTime: parseIsoDate(e.payload["rescheduleStartTime"]),
          endTime: parseIsoDate(e.payload["rescheduleEndTime"]),
          calcomBookingId: typeof rescheduleId === "number" && Number.isSafeInteger(rescheduleId) && rescheduleId > 0 ? rescheduleId : null,
        });
      }
      return changes;
    }
    case "BOOKING_PAID":
    case "BOOKING_NO_SHOW_UPDATED":
    case "MEETING_STARTED":
    case "MEETING_ENDED": {
      // Not a state change: `at` only orders the no-show count against lastEventAt.
      const change: BookingChange = { ...base, stateful: false, status: activeStatus(facts, "ACCEPTED") };
      if (e.triggerEvent === "BOOKING_PAID") change.paidAt = eventTime;
      else if (e.triggerEvent === "MEETING_STARTED") change.meetingStartedAt = eventTime;
      else if (e.triggerEvent === "MEETING_ENDED") change.meetingEndedAt = eventTime;
      else change.noShowAttendees = noShowCount(e.payload);
      return [change];
    }
    default:
      return null;
  }
}

/**
 * Processes one event: applies it and marks it PROCESSED (or IGNORED), all in one transaction.
 * Returns SKIPPED when there is nothing to do (already done, not processable, or gone).
 */
export async function processWebhookEvent(eventId: string): Promise<ProcessResult> {
  const span = trace.getActiveSpan();
  const bookingsNamed = { uids: [] as string[], ids: [] as number[] };
  const outcome = await db().$transaction(
    async (tx) => {
      const rows = await tx.$queryRaw<
        { company_id: string | null; trigger_event: string; status: string; payload: unknown; event_created_at: Date | null; received_at: Date }[]
      >`SELECT company_id::text, trigger_event, status::text, payload, event_created_at, received_at
        FROM webhook_events WHERE id = ${eventId}::uuid FOR UPDATE`;
      const row = rows[0];
      if (!row || !row.company_id || (row.status !== "RECEIVED" && row.status !== "FAILED")) return null;
      const companyId = row.company_id;
      span?.setAttribute("calsync.company_id", companyId);
      span?.setAttribute("calsync.webhook.trigger", row.trigger_event);
      span?.setAttribute("calsync.webhook.event_id", eventId);

      const parsed = parseWebhookJson(row.payload);
      let status: "PROCESSED" | "IGNORED" = "IGNORED";
      if (parsed.ok && parsed.event.triggerEvent === "PING") {
        status = "PROCESSED";
      } else if (parsed.ok) {
        const changes = await changesFor(tx, companyId, parsed.event, row.received_at);
        if (changes) {
          const uids = [...new Set(changes.map((c) => c.uid))].sort();
          for (const uid of uids) await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`booking:${uid}`}, 0))`;
          for (const change of changes) await applyChange(tx, companyId, change);
          for (const change of changes) {
            bookingsNamed.uids.push(change.uid);
            if (change.calcomBookingId !== null && change.calcomBookingId <= 2_147_483_647) bookingsNamed.ids.push(change.calcomBookingId);
          }
          status = "PROCESSED";
        }
      }
      const processedAt = new Date();
      await tx.webhookEvent.update({
        where: { id: eventId },
        data: { status, processedAt, attempts: { increment: 1 }, lastError: null },
      });
      return { status, lagSeconds: (processedAt.getTime() - row.received_at.getTime()) / 1000, trigger: row.trigger_event };
    },
    { maxWait: 10_000, timeout: 30_000 },
  );
  if (!outcome) return "SKIPPED";
  // Events of these bookings that arrived before them (unscoped NO_SHOW_UPDATED, …) can now be
  // matched. After COMMIT, so they see the bookings; a failure here is caught up after the next sync.
  if (bookingsNamed.uids.length > 0) {
    await rematchUnmatched({ bookings: bookingsNamed }).catch((err: unknown) =>
      log("webhook").warn({ err: errorLine(err) }, "re-matching unmatched events failed; the next sync retries"),
    );
  }
  webhookProcessingLag.record(outcome.lagSeconds);
  span?.setAttribute("calsync.webhook.outcome", outcome.status.toLowerCase());
  log("webhook").info({ eventId, trigger: outcome.trigger, status: outcome.status }, "webhook event processed");
  return outcome.status;
}

/** Records a failed attempt; on the last one the event becomes FAILED (retryWebhookEvent re-enqueues it). */
export async function recordFailure(eventId: string, err: unknown, lastAttempt: boolean): Promise<void> {
  const message = errorLine(err, 1000);
  await db().webhookEvent.updateMany({
    where: { id: eventId, status: { in: ["RECEIVED", "FAILED"] } },
    data: { attempts: { increment: 1 }, lastError: message, ...(lastAttempt ? { status: "FAILED" } : {}) },
  });
}
