/**
 * Processing of stored webhook events (process_webhook_event): every trigger, reschedule chains,
 * out-of-order delivery, idempotency, failures with retries and retryWebhookEvent, and the
 * GraphQL views of events and bookings. Deliveries go through HTTP like Cal.com's.
 */
import { randomUUID } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, pool } from "../src/db/client.ts";
import { enqueue } from "../src/worker/enqueue.ts";
import { createApiTokenFor, createCompany, createService, createWebhookSecret } from "./factories.ts";
import {
  bookingCancelled,
  bookingCreated,
  bookingNoShowUpdated,
  bookingPaid,
  bookingRejected,
  bookingRequested,
  bookingRescheduled,
  meetingEndedFlat,
  meetingStartedFlat,
  ping,
  unknownTrigger,
  type Body,
} from "./fixtures/webhooks.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { companyGid, deliver, eventIdOf, jobs, jobsForEvent, makeJobsDue, runWebhookJobs, scopedPath } from "./support/webhooks.ts";

const EVENT_TYPE = 1187;

let t: TestApp;
let company: { id: string; secret: string; serviceId: string };

beforeAll(async () => {
  t = await startTestApp();
  const c = await createCompany();
  const service = await createService(c.id, { calcomEventTypeId: EVENT_TYPE });
  company = { id: c.id, secret: await createWebhookSecret(c.id), serviceId: service.id };
});
afterAll(async () => t.close());

/** Delivers a body to the company's path; returns the event id. */
async function send(body: Body, to: { id: string; secret: string } = company): Promise<string> {
  const res = await deliver(t, scopedPath(to.id), body, { secret: to.secret });
  expect(res.status).toBe(202);
  return eventIdOf(res);
}

/** Delivers and processes, one event after the other (the order of a test is the delivery order). */
async function sendAll(...bodies: Body[]): Promise<string[]> {
  const ids: string[] = [];
  for (const body of bodies) {
    ids.push(await send(body));
    await runWebhookJobs();
  }
  return ids;
}

const event = (id: string) => db().webhookEvent.findUniqueOrThrow({ where: { id } });
const booking = (uid: string, companyId = company.id) => db().booking.findUnique({ where: { companyId_uid: { companyId, uid } } });
const uidOf = (label: string) => `bk_${label}_${randomUUID().slice(0, 8)}`;
const at = (minute: number) => new Date(Date.UTC(2025, 2, 14, 9, minute)).toISOString();

describe("each trigger", () => {
  it("BOOKING_CREATED creates the booking with times, title, Cal.com id and service; the event is PROCESSED", async () => {
    const uid = uidOf("created");
    const [id] = await sendAll(bookingCreated({ uid, bookingId: 501, createdAt: at(1) }));
    expect(await booking(uid)).toMatchObject({
      companyId: company.id,
      status: "ACCEPTED",
      title: "30 Min Meeting between Olivia Organizer and Jane Doe",
      startTime: new Date("2025-03-20T10:00:00Z"),
      endTime: new Date("2025-03-20T10:30:00Z"),
      calcomBookingId: 501,
      calcomEventTypeId: EVENT_TYPE,
      serviceId: company.serviceId,
      rescheduledFromUid: null,
      cancelledAt: null,
      lastEventAt: new Date(at(1)),
    });
    const e = await event(id!);
    expect(e).toMatchObject({ status: "PROCESSED", attempts: 1, lastError: null });
    expect(e.processedAt).toBeInstanceOf(Date);
    expect(await jobsForEvent(id!)).toHaveLength(0); // done and removed
  });

  it("BOOKING_REQUESTED creates a PENDING booking, which a later BOOKING_CREATED accepts", async () => {
    const uid = uidOf("requested");
    await sendAll(bookingRequested({ uid, createdAt: at(1) }));
    expect((await booking(uid))?.status).toBe("PENDING");
    await sendAll(bookingCreated({ uid, createdAt: at(2) }));
    expect((await booking(uid))?.status).toBe("ACCEPTED");
  });

  it("BOOKING_REJECTED and BOOKING_CANCELLED end a booking, with cancelledAt from the envelope", async () => {
    const rejected = uidOf("rejected");
    await sendAll(bookingRequested({ uid: rejected, createdAt: at(1) }), bookingRejected({ uid: rejected, createdAt: at(2) }));
    expect(await booking(rejected)).toMatchObject({ status: "REJECTED", cancelledAt: new Date(at(2)) });

    const cancelled = uidOf("cancelled");
    await sendAll(bookingCreated({ uid: cancelled, createdAt: at(1) }), bookingCancelled({ uid: cancelled, createdAt: at(3) }));
    expect(await booking(cancelled)).toMatchObject({ status: "CANCELLED", cancelledAt: new Date(at(3)), lastEventAt: new Date(at(3)) });
  });

  it("BOOKING_PAID and BOOKING_NO_SHOW_UPDATED are processed without changing the status", async () => {
    const uid = uidOf("paid");
    const ids = await sendAll(
      bookingRequested({ uid, createdAt: at(1) }),
      bookingPaid({ uid, createdAt: at(2) }),
      bookingNoShowUpdated({ uid, createdAt: at(3) }),
    );
    expect((await booking(uid))?.status).toBe("PENDING");
    for (const id of ids) expect((await event(id)).status).toBe("PROCESSED");
  });

  it("MEETING_STARTED / MEETING_ENDED (flat) fill in a booking not seen yet", async () => {
    const uid = uidOf("meeting");
    const [id] = await sendAll(meetingStartedFlat({ uid, bookingId: 777 }));
    expect((await event(id!)).status).toBe("PROCESSED");
    expect(await booking(uid)).toMatchObject({ status: "ACCEPTED", calcomBookingId: 777, lastEventAt: null });
    // Having no envelope time, it never outranks a state change: the creation still applies.
    await sendAll(bookingCreated({ uid, title: "Renamed", createdAt: at(1) }));
    expect(await booking(uid)).toMatchObject({ status: "ACCEPTED", title: "Renamed", lastEventAt: new Date(at(1)) });
  });

  it("MEETING_ENDED on a cancelled booking records meetingEndedAt and changes nothing else", async () => {
    const uid = uidOf("ended");
    await sendAll(bookingCreated({ uid, createdAt: at(1) }), bookingCancelled({ uid, createdAt: at(2) }));
    const before = await booking(uid);
    const [id] = await sendAll(meetingEndedFlat({ uid, title: "Something else", startTime: "2025-04-01T10:00:00Z" }));
    expect((await event(id!)).status).toBe("PROCESSED");
    expect(await booking(uid)).toEqual({ ...before, meetingEndedAt: expect.any(Date), updatedAt: expect.any(Date) });
    expect((await booking(uid))?.status).toBe("CANCELLED");
  });

  it("PING is PROCESSED with no side effect", async () => {
    const bookingsBefore = await db().booking.count();
    const jobsBefore = (await jobs()).length;
    const [id] = await sendAll(ping({ createdAt: at(5) }));
    expect(await event(id!)).toMatchObject({ status: "PROCESSED", triggerEvent: "PING" });
    expect(await db().booking.count()).toBe(bookingsBefore);
    expect((await jobs()).length).toBe(jobsBefore);
  });

  it("an unknown trigger is IGNORED and touches nothing", async () => {
    const uid = uidOf("unknown");
    const [id] = await sendAll(unknownTrigger({ uid, triggerEvent: "BOOKING_LOCATION_UPDATED" }));
    expect(await event(id!)).toMatchObject({ status: "IGNORED", attempts: 1 });
    expect(await booking(uid)).toBeNull();
  });
});

describe("lifecycle facts (PAID, MEETING_*, NO_SHOW_UPDATED)", () => {
  it("BOOKING_PAID sets paidAt from the envelope and leaves the status ACCEPTED", async () => {
    const uid = uidOf("paid-at");
    await sendAll(bookingCreated({ uid, createdAt: at(1) }), bookingPaid({ uid, createdAt: at(2) }));
    expect(await booking(uid)).toMatchObject({ status: "ACCEPTED", paidAt: new Date(at(2)), lastEventAt: new Date(at(1)) });
    // A later payment event keeps the first time.
    await sendAll(bookingPaid({ uid, createdAt: at(5), extra: { paymentId: 772 } }));
    expect((await booking(uid))?.paidAt).toEqual(new Date(at(2)));
  });

  it("BOOKING_PAID for a booking not seen yet creates it paid, and the creation still applies", async () => {
    const uid = uidOf("paid-first");
    await sendAll(bookingPaid({ uid, createdAt: at(2) }), bookingCreated({ uid, title: "Created later", createdAt: at(1) }));
    expect(await booking(uid)).toMatchObject({ status: "ACCEPTED", title: "Created later", paidAt: new Date(at(2)), lastEventAt: new Date(at(1)) });
  });

  it("MEETING_STARTED then MEETING_ENDED (flat) set both times, at delivery, without a status change", async () => {
    const uid = uidOf("meeting-times");
    await sendAll(bookingCreated({ uid, createdAt: at(1) }));
    const before = Date.now();
    await sendAll(meetingStartedFlat({ uid }));
    const started = (await booking(uid))?.meetingStartedAt;
    await sendAll(meetingEndedFlat({ uid }));
    const after = Date.now();
    const row = await booking(uid);
    expect(row).toMatchObject({ status: "ACCEPTED", meetingStartedAt: started, meetingEndedAt: expect.any(Date), lastEventAt: new Date(at(1)) });
    // The flat shape has no envelope time: the delivery time is used, not the booking's createdAt.
    expect(started!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(row!.meetingEndedAt!.getTime()).toBeGreaterThanOrEqual(started!.getTime());
    expect(row!.meetingEndedAt!.getTime()).toBeLessThanOrEqual(after);
  });

  it("NO_SHOW_UPDATED counts attendees marked noShow, stores no personal data, and shows in GraphQL", async () => {
    const c = await createCompany();
    const to = { id: c.id, secret: await createWebhookSecret(c.id) };
    const uid = uidOf("no-show");
    await send(bookingCreated({ uid, createdAt: at(1) }), to);
    await runWebhookJobs();
    await send(bookingPaid({ uid, createdAt: at(2) }), to);
    await runWebhookJobs();
    await send(
      bookingNoShowUpdated({
        uid,
        createdAt: at(3),
        extra: { attendees: [{ email: "jdoe@example.com", noShow: true }, { email: "guest.person@example.org", noShow: false }] },
      }),
      to,
    );
    await runWebhookJobs();
    const row = await booking(uid, c.id);
    expect(row).toMatchObject({ status: "ACCEPTED", noShowAttendees: 1 });
    expect(JSON.stringify(row)).not.toContain("@example");

    const res = await t.gql(`query($id: ID!) { company(id: $id) { bookings { edges { node { uid status noShowAttendees paidAt meetingStartedAt meetingEndedAt } } } } }`, {
      id: companyGid(c.id),
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.company.bookings.edges).toEqual([
      { node: { uid, status: "ACCEPTED", noShowAttendees: 1, paidAt: new Date(at(2)).toISOString(), meetingStartedAt: null, meetingEndedAt: null } },
    ]);
  });

  it("NO_SHOW_UPDATED older than the last state change does not overwrite the count", async () => {
    const uid = uidOf("no-show-old");
    await sendAll(
      bookingCreated({ uid, createdAt: at(1) }),
      bookingNoShowUpdated({ uid, createdAt: at(3) }),
      bookingCancelled({ uid, createdAt: at(4) }),
      bookingNoShowUpdated({ uid, createdAt: at(2), extra: { attendees: [{ email: "jdoe@example.com", noShow: false }] } }),
    );
    expect(await booking(uid)).toMatchObject({ status: "CANCELLED", noShowAttendees: 1 });
    // A newer one applies, even on a cancelled booking, and the status stays.
    await sendAll(bookingNoShowUpdated({ uid, createdAt: at(5), extra: { attendees: [{ email: "jdoe@example.com", noShow: false }] } }));
    expect(await booking(uid)).toMatchObject({ status: "CANCELLED", noShowAttendees: 0 });
  });

  it("re-processing the lifecycle events gives the same row", async () => {
    const uid = uidOf("lifecycle-twice");
    const ids = await sendAll(
      bookingCreated({ uid, createdAt: at(1) }),
      bookingPaid({ uid, createdAt: at(2) }),
      meetingStartedFlat({ uid }),
      meetingEndedFlat({ uid }),
      bookingNoShowUpdated({ uid, createdAt: at(3) }),
    );
    const before = await booking(uid);
    expect(before).toMatchObject({ paidAt: new Date(at(2)), meetingStartedAt: expect.any(Date), meetingEndedAt: expect.any(Date), noShowAttendees: 1 });
    // Stale duplicate jobs of every event, and re-deliveries of the same bodies.
    for (const id of ids) await enqueue("process_webhook_event", { eventId: id });
    await runWebhookJobs();
    for (const body of [bookingPaid({ uid, createdAt: at(2) }), meetingEndedFlat({ uid }), bookingNoShowUpdated({ uid, createdAt: at(3) })]) {
      const again = await deliver(t, scopedPath(company.id), body, { secret: company.secret });
      expect(again.body.duplicate).toBe(true);
    }
    await runWebhookJobs();
    expect(await booking(uid)).toEqual(before);
  });
});

describe("reschedules and ordering", () => {
  it("a reschedule chain A→B→C in order: A and B RESCHEDULED, C active, each pointing back", async () => {
    const [a, b, c] = [uidOf("a"), uidOf("b"), uidOf("c")];
    await sendAll(
      bookingCreated({ uid: a, createdAt: at(1) }),
      bookingRescheduled({ fromUid: a, toUid: b, createdAt: at(2), startTime: "2025-03-21T10:00:00Z", endTime: "2025-03-21T10:30:00Z" }),
      bookingRescheduled({ fromUid: b, toUid: c, createdAt: at(3), startTime: "2025-03-22T10:00:00Z", endTime: "2025-03-22T10:30:00Z" }),
    );
    expect(await booking(a)).toMatchObject({ status: "RESCHEDULED", rescheduledFromUid: null, startTime: new Date("2025-03-20T10:00:00Z") });
    expect(await booking(b)).toMatchObject({ status: "RESCHEDULED", rescheduledFromUid: a, startTime: new Date("2025-03-21T10:00:00Z") });
    expect(await booking(c)).toMatchObject({ status: "ACCEPTED", rescheduledFromUid: b, startTime: new Date("2025-03-22T10:00:00Z") });
  });

  it("the same chain delivered backwards ends in the same state", async () => {
    const [a, b, c] = [uidOf("a"), uidOf("b"), uidOf("c")];
    await sendAll(
      bookingRescheduled({ fromUid: b, toUid: c, createdAt: at(3), startTime: "2025-03-22T10:00:00Z", endTime: "2025-03-22T10:30:00Z" }),
      bookingRescheduled({ fromUid: a, toUid: b, createdAt: at(2), startTime: "2025-03-21T10:00:00Z", endTime: "2025-03-21T10:30:00Z" }),
      bookingCreated({ uid: a, createdAt: at(1) }),
    );
    expect((await booking(a))?.status).toBe("RESCHEDULED");
    expect(await booking(b)).toMatchObject({ status: "RESCHEDULED", rescheduledFromUid: a });
    expect(await booking(c)).toMatchObject({ status: "ACCEPTED", rescheduledFromUid: b });
  });

  it("BOOKING_CANCELLED arriving before BOOKING_CREATED: the booking stays cancelled", async () => {
    const uid = uidOf("early-cancel");
    const [cancelId, createId] = await sendAll(bookingCancelled({ uid, createdAt: at(2) }), bookingCreated({ uid, createdAt: at(1) }));
    expect(await booking(uid)).toMatchObject({ status: "CANCELLED", cancelledAt: new Date(at(2)), lastEventAt: new Date(at(2)) });
    expect((await event(cancelId!)).status).toBe("PROCESSED");
    expect((await event(createId!)).status).toBe("PROCESSED");
  });

  it("an older RESCHEDULED after a newer CANCELLED of the new booking does not resurrect it", async () => {
    const [a, b] = [uidOf("a"), uidOf("b")];
    await sendAll(
      bookingCreated({ uid: a, createdAt: at(1) }),
      bookingCancelled({ uid: b, createdAt: at(3), startTime: "2025-03-21T10:00:00+00:00", endTime: "2025-03-21T10:30:00+00:00" }),
      bookingRescheduled({ fromUid: a, toUid: b, createdAt: at(2), startTime: "2025-03-21T10:00:00Z", endTime: "2025-03-21T10:30:00Z" }),
    );
    expect(await booking(b)).toMatchObject({ status: "CANCELLED", rescheduledFromUid: a, lastEventAt: new Date(at(3)) });
    expect((await booking(a))?.status).toBe("RESCHEDULED");
  });

  it("nothing brings a cancelled booking back, even a later-stamped BOOKING_CREATED", async () => {
    const uid = uidOf("final");
    await sendAll(bookingCancelled({ uid, createdAt: at(1) }), bookingCreated({ uid, createdAt: at(9), title: "New title" }));
    expect(await booking(uid)).toMatchObject({ status: "CANCELLED", title: "New title" });
  });

  it("two companies with the same booking uid keep two bookings; neither touches the other's", async () => {
    const other = await createCompany();
    const otherSecret = await createWebhookSecret(other.id);
    const uid = uidOf("shared");
    await sendAll(bookingCreated({ uid, createdAt: at(1) }));
    const id = await send(bookingCancelled({ uid, createdAt: at(2) }), { id: other.id, secret: otherSecret });
    await runWebhookJobs();
    expect((await event(id)).status).toBe("PROCESSED");
    expect(await booking(uid)).toMatchObject({ companyId: company.id, status: "ACCEPTED" });
    expect(await booking(uid, other.id)).toMatchObject({ companyId: other.id, status: "CANCELLED" });
    expect(await db().booking.count({ where: { uid } })).toBe(2);
  });
});

describe("idempotency", () => {
  it("a second job for an event already processed changes nothing (and a re-delivery adds no job)", async () => {
    const uid = uidOf("twice");
    const [createdId] = await sendAll(bookingCreated({ uid, createdAt: at(1) }), bookingCancelled({ uid, createdAt: at(2) }));
    const before = await booking(uid);
    // A stale duplicate job of the CREATED event runs after the cancellation.
    await enqueue("process_webhook_event", { eventId: createdId! });
    await runWebhookJobs();
    expect(await booking(uid)).toEqual(before);
    expect(await event(createdId!)).toMatchObject({ status: "PROCESSED", attempts: 1 });

    const again = await deliver(t, scopedPath(company.id), bookingCreated({ uid, createdAt: at(1) }), { secret: company.secret });
    expect(again.body).toEqual({ id: encodeGlobalID("WebhookEvent", createdId!), duplicate: true });
    expect(await jobsForEvent(createdId!)).toHaveLength(0);
  });

  it("two jobs of one event running at the same time apply it once", async () => {
    const uid = uidOf("race");
    const id = await send(bookingCreated({ uid, createdAt: at(1) }));
    await enqueue("process_webhook_event", { eventId: id });
    expect(await jobsForEvent(id)).toHaveLength(2);
    await Promise.all([runWebhookJobs(), runWebhookJobs()]);
    expect(await event(id)).toMatchObject({ status: "PROCESSED", attempts: 1 });
    expect(await db().booking.count({ where: { uid } })).toBe(1);
  });
});

describe("unknown event types", () => {
  it("a booking of an event type no service has enqueues one sync_service job for it", async () => {
    const eventTypeId = 880_001;
    const uid1 = uidOf("new-type");
    const uid2 = uidOf("new-type");
    await sendAll(bookingCreated({ uid: uid1, eventTypeId, createdAt: at(1) }), bookingCreated({ uid: uid2, eventTypeId, createdAt: at(2) }));
    expect(await booking(uid1)).toMatchObject({ serviceId: null, calcomEventTypeId: eventTypeId, status: "ACCEPTED" });
    const sync = (await jobs("sync_service")).filter((j) => j.payload["eventTypeId"] === eventTypeId);
    expect(sync).toHaveLength(1);
    expect(sync[0]).toMatchObject({
      key: `sync_service:${company.id}:${eventTypeId}`,
      payload: expect.objectContaining({ companyId: company.id, eventTypeId }),
    });
  });

  it("a later event fills in the service once it exists", async () => {
    const eventTypeId = 880_002;
    const uid = uidOf("late-service");
    await sendAll(bookingCreated({ uid, eventTypeId, createdAt: at(1) }));
    const service = await createService(company.id, { calcomEventTypeId: eventTypeId });
    await sendAll(bookingPaid({ uid, eventTypeId, createdAt: at(2) }));
    expect((await booking(uid))?.serviceId).toBe(service.id);
  });
});

const RETRY = `mutation($id: ID!) { retryWebhookEvent(id: $id) { id status attempts lastError } }`;

describe("failures and retryWebhookEvent", () => {
  it("retries with backoff, is FAILED with lastError after the last attempt, and retryWebhookEvent processes it", async () => {
    const uid = uidOf("failing");
    await pool().query(`
      CREATE OR REPLACE FUNCTION test_refuse_bookings() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'bookings refused by the test'; END $$;
      CREATE TRIGGER test_refuse_bookings BEFORE INSERT OR UPDATE ON bookings
        FOR EACH ROW EXECUTE FUNCTION test_refuse_bookings();`);
    let id: string;
    try {
      id = await send(bookingCreated({ uid, createdAt: at(1) }));
      for (let attempt = 1; attempt <= 8; attempt++) {
        await makeJobsDue();
        await runWebhookJobs();
        const e = await event(id);
        expect(e.attempts).toBe(attempt);
        expect(e.lastError).toContain("bookings refused by the test");
        expect(e.status).toBe(attempt < 8 ? "RECEIVED" : "FAILED");
      }
      // graphile-worker keeps the exhausted job; nothing runs it again.
      expect(await jobsForEvent(id)).toMatchObject([{ attempts: 8, max_attempts: 8 }]);
    } finally {
      await pool().query("DROP TRIGGER IF EXISTS test_refuse_bookings ON bookings; DROP FUNCTION IF EXISTS test_refuse_bookings()");
    }

    const gid = encodeGlobalID("WebhookEvent", id);
    const token = await createApiTokenFor(company.id);
    const retried = await t.gql(RETRY, { id: gid }, token);
    expect(retried.body.errors).toBeUndefined();
    expect(retried.body.data.retryWebhookEvent).toMatchObject({ status: "RECEIVED", attempts: 8 });
    await runWebhookJobs();
    expect(await event(id)).toMatchObject({ status: "PROCESSED", attempts: 9, lastError: null });
    expect((await booking(uid))?.status).toBe("ACCEPTED");

    // The retry continued the event's own trace: its job's span is in the trace of the delivery.
    const { traceId } = await event(id);
    const consumers = spanExporter()
      .getFinishedSpans()
      .filter((s) => s.kind === SpanKind.CONSUMER && s.spanContext().traceId === traceId);
    expect(consumers.length).toBeGreaterThanOrEqual(9);

    const again = await t.gql(RETRY, { id: gid }, token);
    expect(again.body.errors[0].extensions.code).toBe("BAD_USER_INPUT");
  });

  it("retryWebhookEvent: FORBIDDEN for another company's token, NOT_FOUND for an unknown id, BAD_USER_INPUT for an unmatched event", async () => {
    const id = await send(ping({ createdAt: at(7) }));
    await runWebhookJobs();
    const other = await createCompany();
    const otherToken = await createApiTokenFor(other.id);
    const forbidden = await t.gql(RETRY, { id: encodeGlobalID("WebhookEvent", id) }, otherToken);
    expect(forbidden.body.errors[0].extensions.code).toBe("FORBIDDEN");

    const missing = await t.gql(RETRY, { id: encodeGlobalID("WebhookEvent", randomUUID()) });
    expect(missing.body.errors[0].extensions.code).toBe("NOT_FOUND");

    const unmatched = await db().webhookEvent.create({
      data: { triggerEvent: "PING", status: "UNMATCHED", correlationId: "c", bodySha256: randomUUID() },
    });
    const bad = await t.gql(RETRY, { id: encodeGlobalID("WebhookEvent", unmatched.id) });
    expect(bad.body.errors[0].extensions.code).toBe("BAD_USER_INPUT");
  });
});

describe("tracing of processing", () => {
  it("the job's span is in the delivery's trace and names the company", async () => {
    const id = await send(bookingCreated({ uid: uidOf("traced"), createdAt: at(1) }));
    await runWebhookJobs();
    const { traceId } = await event(id);
    const consumer = spanExporter()
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.CONSUMER && s.spanContext().traceId === traceId);
    expect(consumer?.name).toBe("process_webhook_event process");
    expect(consumer?.attributes).toMatchObject({
      "calsync.company_id": company.id,
      "calsync.webhook.trigger": "BOOKING_CREATED",
      "calsync.webhook.outcome": "processed",
    });
  });
});

describe("GraphQL views", () => {
  it("Company.webhookEvents filters by status and trigger; Company.bookings by start time", async () => {
    const c = await createCompany();
    const secret = await createWebhookSecret(c.id);
    const to = { id: c.id, secret };
    const ids = {
      created: await send(bookingCreated({ uid: uidOf("gql1"), createdAt: at(1), startTime: "2025-05-01T09:00:00Z", endTime: "2025-05-01T09:30:00Z" }), to),
      created2: await send(bookingCreated({ uid: uidOf("gql2"), createdAt: at(2), startTime: "2025-06-01T09:00:00Z", endTime: "2025-06-01T09:30:00Z" }), to),
      ping: await send(ping({ createdAt: at(3) }), to),
      unknown: await send(unknownTrigger({ uid: uidOf("gql3"), createdAt: at(4) }), to),
    };
    await runWebhookJobs();
    const invalid = await deliver(t, scopedPath(c.id), "not json", { secret, contentType: "text/plain" });
    expect(invalid.status).toBe(422);

    const Q = `query($id: ID!, $status: WebhookEventStatus, $trigger: String, $from: DateTime, $to: DateTime) {
      company(id: $id) {
        webhookEvents(status: $status, triggerEvent: $trigger) { totalCount edges { node { id triggerEvent status duplicateCount company { id } } } }
        bookings(from: $from, to: $to) { totalCount edges { node { uid status startTime service { id } } } }
      }
    }`;
    const q = async (vars: Record<string, unknown>) => {
      const res = await t.gql(Q, { id: companyGid(c.id), ...vars });
      expect(res.body.errors).toBeUndefined();
      return res.body.data.company;
    };
    const all = await q({});
    expect(all.webhookEvents.totalCount).toBe(5);
    expect(all.bookings.totalCount).toBe(2);

    const processed = await q({ status: "PROCESSED" });
    expect(processed.webhookEvents.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual(
      [ids.created, ids.created2, ids.ping].map((x) => encodeGlobalID("WebhookEvent", x)).sort(),
    );
    expect((await q({ status: "IGNORED" })).webhookEvents.totalCount).toBe(1);
    expect((await q({ status: "INVALID" })).webhookEvents.totalCount).toBe(1);
    const byTrigger = await q({ trigger: "BOOKING_CREATED", status: "PROCESSED" });
    expect(byTrigger.webhookEvents.totalCount).toBe(2);
    expect(byTrigger.webhookEvents.edges[0].node.company.id).toBe(companyGid(c.id));

    const may = await q({ from: "2025-05-01T00:00:00Z", to: "2025-06-01T00:00:00Z" });
    expect(may.bookings.totalCount).toBe(1);
    expect(may.bookings.edges[0].node).toMatchObject({ status: "ACCEPTED", startTime: "2025-05-01T09:00:00.000Z", service: null });

    // Another company's token sees none of it.
    const foreign = await t.gql(`query($id: ID!) { webhookEvent(id: $id) { id } }`, { id: encodeGlobalID("WebhookEvent", ids.created) }, await createApiTokenFor(company.id));
    expect(foreign.body.data.webhookEvent).toBeNull();
    expect(foreign.body.errors[0].extensions.code).toBe("FORBIDDEN");
  });
});
