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
 * transaction, so concurrent events of one booking apply one after the other. A job applies its
 * event together with other queued events of the company (see processWebhookEvent): the rules
 * above hold event by event, in receipt order, within that one transaction.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import type pg from "pg";
import { parseIsoDate, parseWebhookJson, type BookingFacts, type WebhookEnvelope } from "../calcom/webhook-payload.ts";
import { db, pool } from "../db/client.ts";
import { CORRELATION_BAGGAGE_KEY, log } from "../log.ts";
import { webhookProcessingLag } from "../metrics.ts";
import { companyQueue } from "../sync/runs.ts";
import { SYNC_SERVICE_MAX_ATTEMPTS, syncServiceJobKey } from "../sync/service-sync.ts";
import { enqueue, tracer } from "../worker/enqueue.ts";
import { uuidv7 } from "../db/uuid.ts";
import { invalidateListing } from "../sync/listing-cache.ts";
import { errorLine } from "./errors.ts";
import { carrierOf, rematchUnmatched } from "./match.ts";

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

/** A booking as the batch holds it: loaded (or created) once, changed in memory, written once. */
interface BookingState {
  /** Null: not in the database yet (INSERT); else UPDATE when `dirty`. */
  id: string | null;
  uid: string;
  status: string;
  title: string | null;
  startTime: Date;
  endTime: Date;
  calcomBookingId: number | null;
  calcomEventTypeId: number | null;
  serviceId: string | null;
  rescheduledFromUid: string | null;
  cancelledAt: Date | null;
  lastEventAt: Date | null;
  paidAt: Date | null;
  meetingStartedAt: Date | null;
  meetingEndedAt: Date | null;
  noShowAttendees: number | null;
  dirty: boolean;
}

/** Applies one change to the company's booking of that uid (in `bookings`, by uid), in memory. */
function applyChange(bookings: Map<string, BookingState>, c: BookingChange): void {
  // Uids are unique per company: `bookings` holds this company's only.
  const existing = bookings.get(c.uid);
  const cancelledAt = c.status === "CANCELLED" || c.status === "REJECTED" ? (c.at ?? new Date()) : null;

  if (!existing) {
    if (!c.startTime || !c.endTime) return; // not enough to create a booking (e.g. NO_SHOW_UPDATED)
    bookings.set(c.uid, {
      id: null,
      uid: c.uid,
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
      dirty: true,
    });
    return;
  }

  const data: Partial<BookingState> = {};
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
  Object.assign(existing, data, { dirty: true });
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
function changesFor(services: ReadonlyMap<number, string>, e: WebhookEnvelope, receivedAt: Date): BookingChange[] | null {
  const facts = e.booking;
  if (!facts?.uid) return null;
  const serviceId = facts.eventTypeId === null ? null : (services.get(facts.eventTypeId) ?? null);
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

/** Most events of one company one job applies in one transaction (its own and queued siblings). */
export const BATCH_MAX = 50;

interface EventRow {
  id: string;
  company_id: string | null;
  trigger_event: string;
  status: string;
  payload: unknown;
  received_at: Date;
  trace_carrier: unknown;
}

interface Applied {
  row: EventRow;
  status: "PROCESSED" | "IGNORED";
}

const EVENT_COLUMNS = "id::text, company_id::text, trigger_event, status::text, payload, received_at, trace_carrier";

/**
 * Processes one event, and with it up to BATCH_MAX - 1 other RECEIVED events of its company,
 * received no earlier than it, that no other job holds right now: all applied in one transaction
 * on a pooled pg client (about eight statements for the whole batch, where one event used to take
 * eight), each marked PROCESSED (or IGNORED). Returns the job's own event's result; SKIPPED
 * when there was nothing to do (already done, e.g. by another job's batch; not processable; gone).
 *
 * Batching invariants:
 * - Every event of the batch is row-locked (its own with FOR UPDATE, siblings with SKIP LOCKED,
 *   so two jobs never wait on each other's siblings), and only RECEIVED/FAILED events are applied:
 *   a sibling's own job later finds it PROCESSED and returns SKIPPED. Applied once.
 * - Events are applied in receipt order, one after another, on the batch's in-memory bookings;
 *   the rules above decide the outcome exactly as if each had its own transaction in that order.
 * - All bookings the batch touches are advisory-locked in sorted order up front (no deadlocks
 *   between batches), then read once and written once.
 * - A batch that fails is rolled back whole and the job's own event is then applied alone, so one
 *   bad sibling never fails or delays the others (their own jobs apply them).
 * - Each sibling's processing is a span in that event's own trace (from its stored carrier), and
 *   its log line carries that trace (CONTRACT section 5).
 */
export async function processWebhookEvent(eventId: string): Promise<ProcessResult> {
  const started = Date.now();
  // Most jobs of a busy company find their event applied by another job's batch: one read, no
  // transaction. (Only a hint: the batch re-checks under the row lock.)
  const hint = await pool().query<{ status: string }>("SELECT status::text FROM webhook_events WHERE id = $1::uuid", [eventId]);
  const status = hint.rows[0]?.status;
  if (status !== "RECEIVED" && status !== "FAILED") return "SKIPPED";
  let outcome: { own: Applied | null; applied: Applied[]; named: { uids: string[]; ids: number[] } };
  try {
    outcome = await inTransaction((client) => applyBatch(client, eventId, BATCH_MAX));
  } catch (err) {
    if ((err as { batchSize?: number }).batchSize === 1) throw err;
    log("webhook").warn({ eventId, err: errorLine(err) }, "batch failed; applying the event alone");
    outcome = await inTransaction((client) => applyBatch(client, eventId, 1));
  }
  const { own, applied, named } = outcome;
  if (!own) return "SKIPPED";
  // Events of these bookings that arrived before them (unscoped NO_SHOW_UPDATED, …) can now be
  // matched. After COMMIT, so they see the bookings; a failure here is caught up after the next sync.
  if (named.uids.length > 0) {
    await rematchUnmatched({ bookings: named }).catch((err: unknown) =>
      log("webhook").warn({ err: errorLine(err) }, "re-matching unmatched events failed; the next sync retries"),
    );
  }
  const processedAt = Date.now();
  const span = trace.getActiveSpan();
  span?.setAttribute("calsync.company_id", own.row.company_id!);
  span?.setAttribute("calsync.webhook.trigger", own.row.trigger_event);
  span?.setAttribute("calsync.webhook.event_id", eventId);
  span?.setAttribute("calsync.webhook.outcome", own.status.toLowerCase());
  if (applied.length > 1) span?.setAttribute("calsync.webhook.batch_size", applied.length);
  for (const a of applied) {
    webhookProcessingLag.record((processedAt - a.row.received_at.getTime()) / 1000);
    if (a === own) {
      log("webhook").info({ eventId, trigger: a.row.trigger_event, status: a.status }, "webhook event processed");
    } else {
      siblingSpan(a, started, processedAt, eventId);
    }
  }
  return own.status;
}

/** A sibling's processing: a span (and its log line) in the sibling event's own trace. */
function siblingSpan(a: Applied, started: number, ended: number, byEventId: string): void {
  const carrier = carrierOf(a.row.trace_carrier);
  const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
  const correlationId = propagation.getBaggage(parent)?.getEntry(CORRELATION_BAGGAGE_KEY)?.value;
  const producer = trace.getSpanContext(parent);
  const span = tracer.startSpan(
    "process_webhook_event process",
    {
      kind: SpanKind.CONSUMER,
      startTime: started,
      ...(producer ? { links: [{ context: producer }] } : {}),
      attributes: {
        "messaging.system": "graphile_worker",
        "messaging.operation.type": "process",
        "messaging.destination.name": "process_webhook_event",
        "calsync.company_id": a.row.company_id!,
        "calsync.webhook.trigger": a.row.trigger_event,
        "calsync.webhook.event_id": a.row.id,
        "calsync.webhook.outcome": a.status.toLowerCase(),
        "calsync.webhook.batched_by": byEventId,
        ...(correlationId ? { "calsync.correlation_id": correlationId } : {}),
      },
    },
    parent,
  );
  context.with(trace.setSpan(parent, span), () =>
    log("webhook").info({ eventId: a.row.id, trigger: a.row.trigger_event, status: a.status, batchedBy: byEventId }, "webhook event processed"),
  );
  span.end(ended);
}

async function inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool().connect();
  let failed: Error | undefined;
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    failed = err as Error;
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    // A client whose statement failed may have lost its connection: discard it, not reuse it.
    client.release(failed);
  }
}

async function applyBatch(client: pg.PoolClient, eventId: string, max: number) {
  const empty = { own: null, applied: [] as Applied[], named: { uids: [] as string[], ids: [] as number[] } };
  const ownRows = await client.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM webhook_events WHERE id = $1::uuid FOR UPDATE`, [eventId]);
  const ownRow = ownRows.rows[0];
  if (!ownRow || !ownRow.company_id || (ownRow.status !== "RECEIVED" && ownRow.status !== "FAILED")) return empty;
  const companyId = ownRow.company_id;
  const rows = [ownRow];
  if (max > 1) {
    // Siblings received no earlier than this event: the scan of the partial RECEIVED index starts
    // at it, not at the company's oldest entry. Before that lie the entries of events already
    // processed (dead until VACUUM), which a busy company piles up by the tens of thousands
    // between autovacuum runs, and every batch used to walk them. An older queued event is not
    // lost: its own job, ahead of this one in the queue, applies it.
    const siblings = await client.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM webhook_events
        WHERE company_id = $1::uuid AND status = 'RECEIVED' AND received_at >= $4::timestamptz AND id <> $2::uuid
        ORDER BY received_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
      [companyId, eventId, max - 1, ownRow.received_at],
    );
    rows.push(...siblings.rows);
    rows.sort((x, y) => x.received_at.getTime() - y.received_at.getTime() || (x.id < y.id ? -1 : 1));
  }
  try {
    return await applyRows(client, companyId, ownRow, rows);
  } catch (err) {
    if (err && typeof err === "object") Object.assign(err, { batchSize: rows.length });
    throw err;
  }
}

async function applyRows(client: pg.PoolClient, companyId: string, ownRow: EventRow, rows: EventRow[]) {
  const parsed = rows.map((row) => ({ row, parsed: parseWebhookJson(row.payload) }));
  // The company's services for every event type the batch names: one query.
  const eventTypeIds = [...new Set(parsed.flatMap((p) => (p.parsed.ok && p.parsed.event.booking?.eventTypeId != null ? [p.parsed.event.booking.eventTypeId] : [])))];
  const services = new Map<number, string>();
  if (eventTypeIds.length > 0) {
    const found = await client.query<{ event_type_id: number; id: string }>(
      `SELECT calcom_event_type_id AS event_type_id, id::text FROM services WHERE company_id = $1::uuid AND calcom_event_type_id = ANY($2::int[])`,
      [companyId, eventTypeIds],
    );
    for (const r of found.rows) services.set(r.event_type_id, r.id);
  }
  // A booking for an event type we do not hold: Cal.com sends no event-type webhooks, so this
  // is how new event types are found between scheduled syncs.
  const unknown = eventTypeIds.filter((id) => !services.has(id));
  for (const eventTypeId of unknown) {
    await enqueue(
      "sync_service",
      { companyId, eventTypeId },
      { jobKey: syncServiceJobKey(companyId, eventTypeId), queueName: companyQueue(companyId), maxAttempts: SYNC_SERVICE_MAX_ATTEMPTS },
      client,
    );
  }
  if (unknown.length > 0) invalidateListing(companyId);

  const planned = parsed.map(({ row, parsed: p }) => {
    if (!p.ok) return { row, changes: null, ping: false };
    if (p.event.triggerEvent === "PING") return { row, changes: null, ping: true };
    return { row, changes: changesFor(services, p.event, row.received_at), ping: false };
  });
  const uids = [...new Set(planned.flatMap((p) => p.changes?.map((c) => c.uid) ?? []))].sort();
  const bookings = new Map<string, BookingState>();
  if (uids.length > 0) {
    // Sorted, in one statement: concurrent batches never deadlock on each other's bookings.
    await client.query(
      "SELECT pg_advisory_xact_lock(hashtextextended('booking:' || u, 0)) FROM (SELECT unnest($1::text[]) AS u ORDER BY 1) s",
      [uids],
    );
    const existing = await client.query<Omit<BookingState, "dirty">>(
      `SELECT id::text, uid, status, title, start_time AS "startTime", end_time AS "endTime",
              calcom_booking_id AS "calcomBookingId", calcom_event_type_id AS "calcomEventTypeId",
              service_id::text AS "serviceId", rescheduled_from_uid AS "rescheduledFromUid",
              cancelled_at AS "cancelledAt", last_event_at AS "lastEventAt", paid_at AS "paidAt",
              meeting_started_at AS "meetingStartedAt", meeting_ended_at AS "meetingEndedAt",
              no_show_attendees AS "noShowAttendees"
         FROM bookings WHERE company_id = $1::uuid AND uid = ANY($2::text[])`,
      [companyId, uids],
    );
    for (const b of existing.rows) bookings.set(b.uid, { ...b, dirty: false });
  }

  const applied: Applied[] = [];
  const named = { uids: [] as string[], ids: [] as number[] };
  for (const p of planned) {
    let status: "PROCESSED" | "IGNORED" = p.ping ? "PROCESSED" : "IGNORED";
    if (p.changes) {
      for (const change of p.changes) applyChange(bookings, change);
      for (const change of p.changes) {
        named.uids.push(change.uid);
        if (change.calcomBookingId !== null && change.calcomBookingId <= 2_147_483_647) named.ids.push(change.calcomBookingId);
      }
      status = "PROCESSED";
    }
    applied.push({ row: p.row, status });
  }

  const dirty = [...bookings.values()].filter((b) => b.dirty);
  const record = (b: BookingState) => ({
    id: b.id, uid: b.uid, status: b.status, title: b.title, start_time: b.startTime, end_time: b.endTime,
    calcom_booking_id: b.calcomBookingId, calcom_event_type_id: b.calcomEventTypeId, service_id: b.serviceId,
    rescheduled_from_uid: b.rescheduledFromUid, cancelled_at: b.cancelledAt, last_event_at: b.lastEventAt,
    paid_at: b.paidAt, meeting_started_at: b.meetingStartedAt, meeting_ended_at: b.meetingEndedAt,
    no_show_attendees: b.noShowAttendees,
  });
  const created = dirty.filter((b) => b.id === null).map((b) => ({ ...record(b), id: uuidv7() }));
  const updated = dirty.filter((b) => b.id !== null).map(record);
  if (created.length > 0) {
    await client.query(
      `INSERT INTO bookings (id, uid, company_id, status, title, start_time, end_time, calcom_booking_id, calcom_event_type_id,
                             service_id, rescheduled_from_uid, cancelled_at, last_event_at, paid_at, meeting_started_at,
                             meeting_ended_at, no_show_attendees, updated_at)
       SELECT r.id, r.uid, $1::uuid, r.status, r.title, r.start_time, r.end_time, r.calcom_booking_id, r.calcom_event_type_id,
              r.service_id, r.rescheduled_from_uid, r.cancelled_at, r.last_event_at, r.paid_at, r.meeting_started_at,
              r.meeting_ended_at, r.no_show_attendees, now()
         FROM jsonb_to_recordset($2::jsonb) AS r(${BOOKING_RECORD})`,
      [companyId, JSON.stringify(created)],
    );
  }
  if (updated.length > 0) {
    await client.query(
      `UPDATE bookings b SET status = r.status, title = r.title, start_time = r.start_time, end_time = r.end_time,
              calcom_booking_id = r.calcom_booking_id, calcom_event_type_id = r.calcom_event_type_id, service_id = r.service_id,
              rescheduled_from_uid = r.rescheduled_from_uid, cancelled_at = r.cancelled_at, last_event_at = r.last_event_at,
              paid_at = r.paid_at, meeting_started_at = r.meeting_started_at, meeting_ended_at = r.meeting_ended_at,
              no_show_attendees = r.no_show_attendees, updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS r(${BOOKING_RECORD})
        WHERE b.id = r.id`,
      [JSON.stringify(updated)],
    );
  }
  await client.query(
    `UPDATE webhook_events e SET status = v.status::"WebhookEventStatus", processed_at = now(),
            attempts = e.attempts + 1, last_error = NULL
       FROM unnest($1::uuid[], $2::text[]) AS v(id, status) WHERE e.id = v.id`,
    [applied.map((a) => a.row.id), applied.map((a) => a.status)],
  );
  return { own: applied.find((a) => a.row === ownRow)!, applied, named };
}

/** The column list of a booking record in jsonb_to_recordset. */
const BOOKING_RECORD = `id uuid, uid text, status text, title text, start_time timestamptz, end_time timestamptz,
  calcom_booking_id int, calcom_event_type_id int, service_id uuid, rescheduled_from_uid text, cancelled_at timestamptz,
  last_event_at timestamptz, paid_at timestamptz, meeting_started_at timestamptz, meeting_ended_at timestamptz,
  no_show_attendees int`;

/** Records a failed attempt; on the last one the event becomes FAILED (retryWebhookEvent re-enqueues it). */
export async function recordFailure(eventId: string, err: unknown, lastAttempt: boolean): Promise<void> {
  const message = errorLine(err, 1000);
  await db().webhookEvent.updateMany({
    where: { id: eventId, status: { in: ["RECEIVED", "FAILED"] } },
    data: { attempts: { increment: 1 }, lastError: message, ...(lastAttempt ? { status: "FAILED" } : {}) },
  });
}
