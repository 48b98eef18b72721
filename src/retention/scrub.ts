/**
 * Scrubbing a processed webhook payload: what stays is an allow-list of booking facts calsync uses
 * or an operator needs to trace a booking (ids, uids, event type, status, times, price), never a
 * person. Everything else goes: attendees, organizer, responses, titles and descriptions (Cal.com's
 * default title names the attendee), notes, locations (a phone number for phone meetings),
 * metadata, custom inputs, and any field Cal.com adds later. An allow-list, not a deny-list, so
 * a new personal field is scrubbed without anyone noticing it first.
 *
 * The attendee count survives as `attendeeCount` (and `noShowCount` for no-show updates).
 */

/** Booking facts kept, at the payload's top level (wrapped) or the body's (flat MEETING_*). */
export const KEPT_FIELDS: ReadonlySet<string> = new Set([
  "uid",
  "bookingUid",
  "bookingId",
  "id",
  "eventTypeId",
  "status",
  "startTime",
  "endTime",
  "length",
  "rescheduleUid",
  "rescheduleId",
  "rescheduleStartTime",
  "rescheduleEndTime",
  "rescheduledToUid",
  "requestReschedule",
  "price",
  "currency",
  "paymentId",
  "paid",
  "iCalSequence",
  "createdAt",
  "updatedAt",
]);

/** Envelope keys kept around a wrapped payload. */
const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(["triggerEvent", "createdAt"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Only scalars are kept: an allowed key holding an object could still hide a person. */
function scalar(v: unknown): boolean {
  return v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

function keep(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (KEPT_FIELDS.has(k) && scalar(v)) out[k] = v;
  const attendees = data["attendees"];
  if (Array.isArray(attendees)) {
    out["attendeeCount"] = attendees.length;
    const noShow = attendees.filter((a) => isObject(a) && a["noShow"] === true).length;
    if (noShow > 0) out["noShowCount"] = noShow;
  }
  return out;
}

/** The scrubbed form of a stored payload (wrapped or flat); anything else becomes `{}`. */
export function scrubPayload(payload: unknown): Record<string, unknown> {
  if (!isObject(payload)) return { scrubbed: true };
  if (isObject(payload["payload"])) {
    const out: Record<string, unknown> = {};
    for (const k of ENVELOPE_FIELDS) if (scalar(payload[k]) && payload[k] !== undefined) out[k] = payload[k];
    return { ...out, payload: keep(payload["payload"]), scrubbed: true };
  }
  const flat = keep(payload);
  if (typeof payload["triggerEvent"] === "string") flat["triggerEvent"] = payload["triggerEvent"];
  return { ...flat, scrubbed: true };
}
