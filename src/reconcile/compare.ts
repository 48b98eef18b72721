/**
 * Comparing one Cal.com booking (API v2, 2024-08-13) with calsync's, and turning a difference into
 * the webhook Cal.com would have sent for it: the synthetic envelope that reconciliation records
 * in the inbox and that webhook processing (webhooks/process.ts) then applies by its own rules.
 *
 * Terminology:
 * - **target**: the state Cal.com shows (status uppercased like webhook payloads; the old side of a
 *   reschedule, `cancelled` with `rescheduledToUid`, is RESCHEDULED as calsync records it).
 * - **at**: when Cal.com made that state, its `updatedAt` (Prisma sets it on create too), else
 *   `createdAt`. It plays the part of a webhook envelope's `createdAt` (the same clock), so the
 *   ordering rule "a newer state is never overwritten by an older one" holds between webhooks and
 *   reconciliation alike.
 * - **change**: what the difference means, the `change` label of `calsync_bookings_recovered_total`:
 *   `created` (calsync lacked an active booking), `cancelled`, `rescheduled`, `rejected`,
 *   `confirmed` (pending → accepted), `pending`, `updated` (times or title only).
 *
 * A difference is only recorded when processing would apply it: calsync's booking is not in a
 * final state and its last applied state change is not newer than `at` (the same `isNewer` and
 * `isFinal` processing uses). Otherwise calsync's state stands and the booking counts as unchanged.
 */
import { isFinal, isNewer } from "../webhooks/process.ts";
import type { CalcomBooking } from "../calcom/bookings.ts";

export type Change = "created" | "cancelled" | "rescheduled" | "rejected" | "confirmed" | "pending" | "updated";

/** What calsync holds of a booking (only what the comparison needs). */
export interface LocalBooking {
  uid: string;
  status: string;
  startTime: Date;
  endTime: Date;
  title: string | null;
  lastEventAt: Date | null;
}

export interface Target {
  uid: string;
  status: "ACCEPTED" | "PENDING" | "CANCELLED" | "REJECTED" | "RESCHEDULED";
  startTime: Date;
  endTime: Date;
  title: string | null;
  at: Date | null;
}

export type Verdict =
  | { kind: "unchanged" }
  /** Cal.com differs, but calsync's state is final or newer: processing would keep it. */
  | { kind: "kept" }
  /** A status calsync does not model (Cal.com added one): left alone. */
  | { kind: "unknown" }
  | { kind: "recover"; change: Change; missing: boolean; target: Target; envelope: SyntheticEnvelope };

export interface SyntheticEnvelope {
  triggerEvent: "BOOKING_CREATED" | "BOOKING_REQUESTED" | "BOOKING_CANCELLED" | "BOOKING_REJECTED" | "BOOKING_RESCHEDULED";
  createdAt?: string;
  payload: Record<string, unknown>;
}

const STATUSES: Record<string, Target["status"]> = {
  accepted: "ACCEPTED",
  pending: "PENDING",
  cancelled: "CANCELLED",
  rejected: "REJECTED",
};

function instant(v: string | null | undefined): Date | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Cal.com's booking as the state calsync would hold; null for a status calsync does not know. */
export function targetOf(b: CalcomBooking): Target | null {
  const base = STATUSES[b.status.toLowerCase()];
  if (!base) return null;
  const status = base === "CANCELLED" && b.rescheduledToUid ? "RESCHEDULED" : base;
  return {
    uid: b.uid,
    status,
    startTime: new Date(b.start),
    endTime: new Date(b.end),
    title: b.title ?? null,
    at: instant(b.updatedAt) ?? instant(b.createdAt),
  };
}

/** The webhook Cal.com would have sent for this state (no attendee data: none is needed). */
export function envelopeFor(b: CalcomBooking, t: Target): SyntheticEnvelope {
  const eventTypeId = b.eventType?.id ?? b.eventTypeId ?? null;
  const payload: Record<string, unknown> = {
    uid: b.uid,
    ...(b.id ? { bookingId: b.id } : {}),
    ...(eventTypeId ? { eventTypeId } : {}),
    ...(t.title !== null ? { title: t.title } : {}),
    startTime: t.startTime.toISOString(),
    endTime: t.endTime.toISOString(),
    status: t.status === "RESCHEDULED" ? "CANCELLED" : t.status,
  };
  let triggerEvent: SyntheticEnvelope["triggerEvent"];
  switch (t.status) {
    case "ACCEPTED":
      // The new side of a reschedule names the old one, which processing then marks RESCHEDULED.
      triggerEvent = b.rescheduledFromUid ? "BOOKING_RESCHEDULED" : "BOOKING_CREATED";
      if (b.rescheduledFromUid) payload["rescheduleUid"] = b.rescheduledFromUid;
      break;
    case "PENDING":
      triggerEvent = "BOOKING_REQUESTED";
      break;
    case "REJECTED":
      triggerEvent = "BOOKING_REJECTED";
      break;
    case "CANCELLED":
      triggerEvent = "BOOKING_CANCELLED";
      break;
    case "RESCHEDULED":
      triggerEvent = "BOOKING_CANCELLED";
      payload["rescheduledToUid"] = b.rescheduledToUid;
      break;
  }
  return { triggerEvent, ...(t.at ? { createdAt: t.at.toISOString() } : {}), payload };
}

function changeOf(t: Target, local: LocalBooking | undefined): Change | null {
  if (!local) {
    if (t.status === "ACCEPTED" || t.status === "PENDING") return "created";
    return t.status.toLowerCase() as Change;
  }
  if (local.status !== t.status) {
    if (t.status === "ACCEPTED") return local.status === "PENDING" ? "confirmed" : "updated";
    return t.status.toLowerCase() as Change;
  }
  const timesDiffer = local.startTime.getTime() !== t.startTime.getTime() || local.endTime.getTime() !== t.endTime.getTime();
  const titleDiffers = t.title !== null && t.title !== local.title;
  return timesDiffer || titleDiffers ? "updated" : null;
}

/** Compares one Cal.com booking with calsync's (undefined: calsync has none). */
export function compare(b: CalcomBooking, local: LocalBooking | undefined): Verdict {
  const t = targetOf(b);
  if (!t) return { kind: "unknown" };
  const change = changeOf(t, local);
  if (change === null) return { kind: "unchanged" };
  if (local && (isFinal(local.status) || !isNewer(t.at, local.lastEventAt))) return { kind: "kept" };
  return { kind: "recover", change, missing: !local, target: t, envelope: envelopeFor(b, t) };
}
