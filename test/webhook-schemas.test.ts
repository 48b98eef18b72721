import { describe, expect, it } from "vitest";
import {
  KNOWN_TRIGGERS,
  isKnownTrigger,
  parseWebhookBody,
  type ParseResult,
  type WebhookEnvelope,
} from "../src/calcom/webhook-payload.ts";
import {
  DEFAULTS,
  PERSONAL_DATA,
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
  serialize,
  unknownTrigger,
} from "./fixtures/webhooks.ts";

const JSON_CT = "application/json";

function parse(obj: unknown, ct: string | undefined = JSON_CT): ParseResult {
  return parseWebhookBody(Buffer.from(typeof obj === "string" ? obj : serialize(obj), "utf8"), ct);
}

function ok(obj: unknown): WebhookEnvelope {
  const r = parse(obj);
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.details)}`);
  return r.event;
}

function fail(obj: unknown, ct?: string): Extract<ParseResult, { ok: false }> {
  const r = parse(obj, ct);
  if (r.ok) throw new Error(`expected failure, got ${r.event.triggerEvent}`);
  return r;
}

describe("wrapped booking events", () => {
  it.each([
    ["BOOKING_CREATED", bookingCreated, "ACCEPTED"],
    ["BOOKING_REQUESTED", bookingRequested, "PENDING"],
    ["BOOKING_REJECTED", bookingRejected, "REJECTED"],
    ["BOOKING_PAID", bookingPaid, "ACCEPTED"],
  ] as const)("%s is normalised", (trigger, build, status) => {
    const e = ok(build());
    expect(e.triggerEvent).toBe(trigger);
    expect(e.shape).toBe("wrapped");
    expect(e.createdAt?.toISOString()).toBe(DEFAULTS.createdAt);
    expect(e.eventTypeId).toBe(DEFAULTS.eventTypeId);
    expect(e.booking).toEqual({
      uid: DEFAULTS.uid,
      bookingId: DEFAULTS.bookingId,
      eventTypeId: DEFAULTS.eventTypeId,
      status,
      title: DEFAULTS.title,
      startTime: new Date(DEFAULTS.startTime),
      endTime: new Date(DEFAULTS.endTime),
      rescheduleUid: null,
      requestReschedule: false,
    });
    expect(isKnownTrigger(e.triggerEvent)).toBe(true);
  });

  it("applies fixture overrides and keeps unknown fields in payload", () => {
    const e = ok(
      bookingCreated({
        uid: "bk_override",
        bookingId: 7,
        eventTypeId: 99,
        createdAt: "2025-01-02T03:04:05.678Z",
        startTime: "2025-02-01T09:00:00Z",
        endTime: "2025-02-01T10:00:00Z",
        status: "pending",
        extra: { someFutureField: { nested: [1, 2] } },
      }),
    );
    expect(e.createdAt).toEqual(new Date("2025-01-02T03:04:05.678Z"));
    expect(e.booking).toMatchObject({
      uid: "bk_override",
      bookingId: 7,
      eventTypeId: 99,
      status: "PENDING",
      startTime: new Date("2025-02-01T09:00:00Z"),
      endTime: new Date("2025-02-01T10:00:00Z"),
    });
    expect(e.eventTypeId).toBe(99);
    expect(e.payload["someFutureField"]).toEqual({ nested: [1, 2] });
    expect(e.payload["organizer"]).toMatchObject({ email: PERSONAL_DATA.organizerEmail });
  });

  it("BOOKING_RESCHEDULED: uid/bookingId are the new booking's, rescheduleUid the old one's", () => {
    const e = ok(bookingRescheduled({ fromUid: "bk_old", toUid: "bk_new", bookingId: 500 }));
    expect(e.triggerEvent).toBe("BOOKING_RESCHEDULED");
    expect(e.booking?.uid).toBe("bk_new");
    expect(e.booking?.bookingId).toBe(500);
    expect(e.booking?.rescheduleUid).toBe("bk_old");
    expect(e.payload["rescheduleId"]).toBe(41100);
  });

  it("BOOKING_CANCELLED with +00:00 times and requestReschedule", () => {
    const plain = ok(bookingCancelled());
    expect(plain.booking?.status).toBe("CANCELLED");
    expect(plain.booking?.startTime?.toISOString()).toBe("2025-03-20T10:00:00.000Z");
    expect(plain.booking?.endTime?.toISOString()).toBe("2025-03-20T10:30:00.000Z");
    expect(plain.booking?.requestReschedule).toBe(false);

    const rr = ok(bookingCancelled({ requestReschedule: true }));
    expect(rr.booking?.requestReschedule).toBe(true);
  });

  it("BOOKING_NO_SHOW_UPDATED: uid comes from bookingUid", () => {
    const e = ok(bookingNoShowUpdated({ uid: "bk_ns", bookingId: 321 }));
    expect(e.triggerEvent).toBe("BOOKING_NO_SHOW_UPDATED");
    expect(e.shape).toBe("wrapped");
    expect(e.booking).toMatchObject({ uid: "bk_ns", bookingId: 321, eventTypeId: null, startTime: null });
    expect(e.eventTypeId).toBeNull();
  });

  it("PING: wrapped, no booking", () => {
    const e = ok(ping());
    expect(e.triggerEvent).toBe("PING");
    expect(e.shape).toBe("wrapped");
    expect(e.createdAt?.toISOString()).toBe("2025-03-14T09:30:00.012Z");
    expect(e.booking).toBeNull();
    expect(e.eventTypeId).toBeNull();
    expect(e.payload["title"]).toBe("Test trigger event");
    expect(isKnownTrigger("PING")).toBe(true);
  });

  it("a wrapped body without createdAt is accepted with createdAt null", () => {
    const { createdAt: _drop, ...body } = bookingCreated();
    const e = ok(body);
    expect(e.shape).toBe("wrapped");
    expect(e.createdAt).toBeNull();
  });

  it("numeric strings from a custom JSON template are read as numbers", () => {
    const e = ok(bookingCreated({ extra: { eventTypeId: "1187", bookingId: "41237" } }));
    expect(e.booking?.eventTypeId).toBe(1187);
    expect(e.booking?.bookingId).toBe(41237);
  });

  it("unparseable booking times become null rather than failing the event", () => {
    const e = ok(bookingCreated({ startTime: "tomorrow", endTime: "2025-02-30T10:00:00Z" }));
    expect(e.booking?.startTime).toBeNull();
    expect(e.booking?.endTime).toBeNull();
  });
});

describe("flat legacy MEETING_* bodies", () => {
  it.each([
    ["MEETING_ENDED", meetingEndedFlat],
    ["MEETING_STARTED", meetingStartedFlat],
  ] as const)("%s: id is the booking id, envelope createdAt is unknown", (trigger, build) => {
    const e = ok(build({ uid: "bk_flat", bookingId: 808, eventTypeId: 12 }));
    expect(e.triggerEvent).toBe(trigger);
    expect(e.shape).toBe("flat");
    // The body's createdAt is the booking's own creation time, not the envelope's.
    expect(e.createdAt).toBeNull();
    expect(e.eventTypeId).toBe(12);
    expect(e.booking).toEqual({
      uid: "bk_flat",
      bookingId: 808,
      eventTypeId: 12,
      status: "ACCEPTED",
      title: DEFAULTS.title,
      startTime: new Date(DEFAULTS.startTime),
      endTime: new Date(DEFAULTS.endTime),
      rescheduleUid: null,
      requestReschedule: false,
    });
    expect(e.payload["userId"]).toBe(9001);
  });

  it("status is upper-cased", () => {
    expect(ok(meetingEndedFlat({ status: "accepted" })).booking?.status).toBe("ACCEPTED");
  });

  it("an invalid booking createdAt in the flat shape is not an envelope error", () => {
    const e = ok(meetingEndedFlat({ createdAt: "not a date" }));
    expect(e.createdAt).toBeNull();
  });

  it("MEETING_* in the newer wrapped shape also reads `id` as the booking id", () => {
    const { triggerEvent, ...row } = meetingEndedFlat({ bookingId: 909 });
    const e = ok({ triggerEvent, createdAt: DEFAULTS.createdAt, payload: row });
    expect(e.shape).toBe("wrapped");
    expect(e.booking?.bookingId).toBe(909);
    expect(e.createdAt?.toISOString()).toBe(DEFAULTS.createdAt);
  });
});

describe("unknown triggers", () => {
  it("are accepted (the enum is open) but not known", () => {
    const e = ok(unknownTrigger());
    expect(e.triggerEvent).toBe("BOOKING_LOCATION_UPDATED");
    expect(e.booking?.uid).toBe(DEFAULTS.uid);
    expect(isKnownTrigger(e.triggerEvent)).toBe(false);
    expect(isKnownTrigger("SOMETHING_NEW")).toBe(false);
  });

  it("KNOWN_TRIGGERS holds the verified set plus PING, and nothing unverified", () => {
    expect(KNOWN_TRIGGERS).toHaveLength(22);
    expect(new Set(KNOWN_TRIGGERS).size).toBe(KNOWN_TRIGGERS.length);
    for (const t of ["BOOKING_CREATED", "MEETING_ENDED", "BOOKING_NO_SHOW_UPDATED", "WRONG_ASSIGNMENT_REPORT", "PING"]) {
      expect(isKnownTrigger(t)).toBe(true);
    }
    for (const t of ["BOOKING_CONFIRMED", "EVENT_TYPE_CREATED", "BOOKING_REASSIGNED", "booking_created"]) {
      expect(isKnownTrigger(t)).toBe(false);
    }
  });
});

describe("invalid bodies", () => {
  it("a custom non-JSON template (form-encoded) is not JSON", () => {
    const text = "triggerEvent=BOOKING_CREATED&title=30+Min+Meeting&attendee=jdoe%40example.com";
    const r = fail(text, "application/x-www-form-urlencoded");
    expect(r.details).toHaveLength(1);
    expect(r.details[0]?.path).toBe("");
    expect(r.details[0]?.message).toMatch(/^body is not JSON/);
    expect(r.rawText).toBe(text);
  });

  it("an empty body and truncated JSON are not JSON", () => {
    expect(fail("").details[0]?.message).toMatch(/^body is not JSON/);
    const truncated = serialize(bookingCreated()).slice(0, 50);
    const r = fail(truncated);
    expect(r.details).toEqual([{ path: "", message: "body is not JSON" }]);
    expect(r.rawText).toBe(truncated);
  });

  it("invalid UTF-8 is rejected", () => {
    const raw = Buffer.concat([Buffer.from('{"triggerEvent":"PING","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const r = parseWebhookBody(raw, JSON_CT);
    expect(r).toMatchObject({ ok: false, details: [{ path: "", message: "body is not valid UTF-8" }] });
    expect((r as { rawText: string }).rawText).toContain('"triggerEvent":"PING"');
  });

  it.each([
    ["an array", [], ""],
    ["a string", "\"BOOKING_CREATED\"", ""],
    ["null", "null", ""],
    ["an object without triggerEvent", { foo: 1 }, "triggerEvent"],
    ["a numeric triggerEvent", { triggerEvent: 5 }, "triggerEvent"],
    ["an empty triggerEvent", { triggerEvent: "", payload: {} }, "triggerEvent"],
    ["a blank triggerEvent", { triggerEvent: "   ", payload: {} }, "triggerEvent"],
    ["a non-object payload", { triggerEvent: "BOOKING_CREATED", createdAt: DEFAULTS.createdAt, payload: "x" }, "payload"],
    ["an array payload", { triggerEvent: "BOOKING_CREATED", createdAt: DEFAULTS.createdAt, payload: [] }, "payload"],
    ["a null payload", { triggerEvent: "BOOKING_CREATED", createdAt: DEFAULTS.createdAt, payload: null }, "payload"],
  ])("JSON that is not an envelope (%s) gives zod details", (_name, body, path) => {
    const r = fail(body);
    expect(r.details.length).toBeGreaterThan(0);
    expect(r.details.map((d) => d.path)).toContain(path);
    for (const d of r.details) expect(d.message.length).toBeGreaterThan(0);
  });

  it.each([
    ["garbage", "yesterday"],
    ["impossible date", "2025-02-30T10:00:00.000Z"],
    ["hour 24", "2025-03-14T24:00:00.000Z"],
    ["no time zone", "2025-03-14T09:26:53.589"],
    ["date only", "2025-03-14"],
    ["a number", 1741944413589],
  ])("an invalid envelope createdAt (%s) is rejected with path createdAt", (_name, createdAt) => {
    const r = fail({ ...bookingCreated(), createdAt });
    expect(r.details).toContainEqual({ path: "createdAt", message: expect.any(String) });
  });

  it("accepts +00:00 and fractional-second variants of createdAt", () => {
    expect(ok(bookingCreated({ createdAt: "2025-03-14T09:26:53+00:00" })).createdAt?.toISOString()).toBe(
      "2025-03-14T09:26:53.000Z",
    );
    expect(ok(bookingCreated({ createdAt: "2025-03-14T11:26:53.5+02:00" })).createdAt?.toISOString()).toBe(
      "2025-03-14T09:26:53.500Z",
    );
  });

  it("details never quote attendee names or e-mails", () => {
    const bodies: unknown[] = [
      { ...bookingCreated(), triggerEvent: PERSONAL_DATA.attendeeEmail.length },
      { ...bookingCreated(), createdAt: PERSONAL_DATA.attendeeEmail },
      { ...bookingCreated(), payload: PERSONAL_DATA.attendeeName },
      { triggerEvent: { email: PERSONAL_DATA.attendeeEmail, name: PERSONAL_DATA.attendeeName } },
      [PERSONAL_DATA.attendeeEmail],
      `name=${PERSONAL_DATA.attendeeName}&email=${PERSONAL_DATA.attendeeEmail}`,
    ];
    for (const b of bodies) {
      const details = JSON.stringify(fail(b, "application/x-www-form-urlencoded").details);
      for (const pii of Object.values(PERSONAL_DATA)) expect(details).not.toContain(pii);
      expect(details).not.toContain("jdoe");
    }
  });
});
