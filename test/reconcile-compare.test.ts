/**
 * The comparison of one Cal.com booking with calsync's (reconcile/compare.ts): which webhook a
 * difference becomes, and when calsync's own state stands.
 */
import { describe, expect, it } from "vitest";
import type { CalcomBooking } from "../src/calcom/bookings.ts";
import { compare, type LocalBooking } from "../src/reconcile/compare.ts";

const T0 = "2026-11-01T10:00:00.000Z";
const T1 = "2026-11-01T11:00:00.000Z";

const remote = (o: Partial<CalcomBooking> = {}): CalcomBooking => ({
  id: 9, uid: "bk_1", title: "Intro", status: "accepted", start: "2030-01-01T09:00:00.000Z", end: "2030-01-01T09:30:00.000Z",
  eventType: { id: 77 }, updatedAt: T1, ...o,
});
const local = (o: Partial<LocalBooking> = {}): LocalBooking => ({
  uid: "bk_1", status: "ACCEPTED", startTime: new Date("2030-01-01T09:00:00.000Z"), endTime: new Date("2030-01-01T09:30:00.000Z"),
  title: "Intro", lastEventAt: new Date(T0), ...o,
});

describe("compare", () => {
  it("a booking calsync lacks becomes the webhook Cal.com would have sent, without attendee data", () => {
    const v = compare(remote(), undefined);
    expect(v).toMatchObject({ kind: "recover", change: "created", missing: true });
    if (v.kind !== "recover") throw new Error("unreachable");
    expect(v.envelope).toEqual({
      triggerEvent: "BOOKING_CREATED",
      createdAt: T1,
      payload: { uid: "bk_1", bookingId: 9, eventTypeId: 77, title: "Intro", startTime: "2030-01-01T09:00:00.000Z", endTime: "2030-01-01T09:30:00.000Z", status: "ACCEPTED" },
    });
  });

  it.each([
    [{ status: "pending" }, undefined, "created", "BOOKING_REQUESTED"],
    [{ status: "rejected" }, undefined, "rejected", "BOOKING_REJECTED"],
    [{ status: "cancelled" }, local(), "cancelled", "BOOKING_CANCELLED"],
    [{ status: "cancelled", rescheduledToUid: "bk_2" }, local(), "rescheduled", "BOOKING_CANCELLED"],
    [{ rescheduledFromUid: "bk_0" }, undefined, "created", "BOOKING_RESCHEDULED"],
    [{ status: "accepted" }, local({ status: "PENDING" }), "confirmed", "BOOKING_CREATED"],
    [{ status: "pending" }, local(), "pending", "BOOKING_REQUESTED"],
    [{ start: "2030-02-01T09:00:00.000Z", end: "2030-02-01T09:30:00.000Z" }, local(), "updated", "BOOKING_CREATED"],
    [{ title: "Renamed" }, local(), "updated", "BOOKING_CREATED"],
  ] as const)("%o against %o is a %s change sent as %s", (o, l, change, trigger) => {
    const v = compare(remote(o as Partial<CalcomBooking>), l);
    expect(v).toMatchObject({ kind: "recover", change, envelope: { triggerEvent: trigger } });
  });

  it("the old side of a reschedule names the new booking, so processing marks it RESCHEDULED", () => {
    const v = compare(remote({ status: "cancelled", rescheduledToUid: "bk_2" }), local());
    expect(v.kind === "recover" && v.envelope.payload).toMatchObject({ rescheduledToUid: "bk_2", status: "CANCELLED" });
  });

  it("calsync's state stands when it is final or newer, and equal is unchanged", () => {
    expect(compare(remote(), local())).toEqual({ kind: "unchanged" });
    expect(compare(remote({ status: "cancelled" }), local({ status: "RESCHEDULED" }))).toEqual({ kind: "kept" });
    expect(compare(remote({ status: "accepted" }), local({ status: "CANCELLED" }))).toEqual({ kind: "kept" });
    expect(compare(remote({ status: "cancelled", updatedAt: T0 }), local({ lastEventAt: new Date(T1) }))).toEqual({ kind: "kept" });
    expect(compare(remote({ status: "awaiting_host" }), undefined)).toEqual({ kind: "unknown" });
  });

  it("without updatedAt the creation time orders it; without either it is older than any webhook", () => {
    const v = compare(remote({ updatedAt: null, createdAt: T0, status: "cancelled" }), local({ lastEventAt: null }));
    expect(v).toMatchObject({ kind: "recover", envelope: { createdAt: T0 } });
    expect(compare(remote({ updatedAt: null, createdAt: null, status: "cancelled" }), local())).toEqual({ kind: "kept" });
  });
});
