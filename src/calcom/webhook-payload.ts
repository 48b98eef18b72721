/**
 * Parses a (signature-verified) Cal.com webhook body into a normalised envelope.
 *
 * Two shapes are accepted (calcom.md §2):
 * - wrapped: `{triggerEvent, createdAt, payload: {...}}` (booking, form, no-show, PING, …);
 * - flat: `{triggerEvent, ...bookingRow}` (legacy MEETING_STARTED / MEETING_ENDED, flat custom
 *   templates). Its `createdAt` is the booking's own, so the envelope time is unknown (null).
 * The rule is `const data = body.payload ?? body`.
 *
 * Strict only where it matters (triggerEvent, envelope createdAt, payload is an object); lenient on
 * everything else, and unknown fields are kept. Unknown trigger values are not errors.
 * Error details never quote input values, so attendee names and e-mails cannot leak through them.
 */
import { z } from "zod";

export type Issue = { path: string; message: string };

export type BookingFacts = {
  uid: string | null;
  bookingId: number | null;
  eventTypeId: number | null;
  /** Uppercase (`ACCEPTED`, `PENDING`, `CANCELLED`, `REJECTED`, …). */
  status: string | null;
  title: string | null;
  startTime: Date | null;
  endTime: Date | null;
  /** BOOKING_RESCHEDULED: the old booking's uid (`uid` is the new one's). */
  rescheduleUid: string | null;
  /** BOOKING_CANCELLED via the host's "Request reschedule". */
  requestReschedule: boolean;
};

export type WebhookEnvelope = {
  triggerEvent: string;
  /** Envelope time (wrapped shape only); null for the flat shape or when absent. */
  createdAt: Date | null;
  shape: "wrapped" | "flat";
  /** `body.payload` (wrapped) or the whole body (flat). */
  payload: Record<string, unknown>;
  /** Null when the event names no booking (no uid and no booking id), e.g. PING. */
  booking: BookingFacts | null;
  eventTypeId: number | null;
};

export type ParseResult =
  | { ok: true; event: WebhookEnvelope; /** The decoded body (BOM removed) that was parsed. */ text: string }
  | { ok: false; details: Issue[]; rawText: string };

/** The verified `WebhookTriggerEvents` set (calcom.md §2) plus the test button's `PING`. */
export const KNOWN_TRIGGERS = [
  "BOOKING_CREATED",
  "BOOKING_PAYMENT_INITIATED",
  "BOOKING_PAID",
  "BOOKING_RESCHEDULED",
  "BOOKING_REQUESTED",
  "BOOKING_CANCELLED",
  "BOOKING_REJECTED",
  "BOOKING_NO_SHOW_UPDATED",
  "FORM_SUBMITTED",
  "MEETING_ENDED",
  "MEETING_STARTED",
  "RECORDING_READY",
  "INSTANT_MEETING",
  "RECORDING_TRANSCRIPTION_GENERATED",
  "OOO_CREATED",
  "AFTER_HOSTS_CAL_VIDEO_NO_SHOW",
  "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
  "FORM_SUBMITTED_NO_EVENT",
  "ROUTING_FORM_FALLBACK_HIT",
  "DELEGATION_CREDENTIAL_ERROR",
  "WRONG_ASSIGNMENT_REPORT",
  "PING",
] as const;

export type KnownTrigger = (typeof KNOWN_TRIGGERS)[number];

const KNOWN_SET: ReadonlySet<string> = new Set(KNOWN_TRIGGERS);

export function isKnownTrigger(t: string): t is KnownTrigger {
  return KNOWN_SET.has(t);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** ISO-8601 date-time, `Z` or `±hh:mm` offset, optional fraction; must also be a real instant. */
const ISO_DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$/i;

/** A real instant from an ISO-8601 string; null for anything else, including Feb 30 or 25:00. */
export function parseIsoDate(v: unknown): Date | null {
  if (typeof v !== "string") return null;
  const m = ISO_DATETIME.exec(v);
  if (!m) return null;
  const [, y, mo, da, h, mi, s] = m;
  const year = Number(y), month = Number(mo), day = Number(da);
  const hour = Number(h), minute = Number(mi), second = Number(s ?? "0");
  // `new Date` would silently roll over calendar overflow; check the fields first.
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

const envelopeSchema = z
  .looseObject({
    triggerEvent: z.string().regex(/\S/, "triggerEvent must be a non-empty string"),
    createdAt: z.unknown().optional(),
    payload: z
      .unknown()
      .optional()
      .refine((v) => v === undefined || isPlainObject(v), "payload must be an object"),
  })
  .superRefine((body, ctx) => {
    // The envelope time only exists in the wrapped shape; in the flat shape `createdAt` belongs to
    // the booking row and is not checked here.
    if (body.payload === undefined || body.createdAt === undefined || body.createdAt === null) return;
    const v = body.createdAt;
    if (parseIsoDate(v) === null) {
      ctx.addIssue({ code: "custom", path: ["createdAt"], message: "createdAt must be an ISO-8601 date-time" });
    }
  });

function toIssues(error: z.ZodError): Issue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
}

function str(v: unknown): string | null {
  return typeof v === "string" && v.length > 0 ? v : null;
}

/** A positive safe integer, also from a decimal string (custom templates may quote numbers). */
function int(v: unknown): number | null {
  if (typeof v === "number") return Number.isSafeInteger(v) && v > 0 ? v : null;
  if (typeof v === "string" && /^[1-9]\d{0,15}$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

function bookingFacts(triggerEvent: string, shape: "wrapped" | "flat", data: Record<string, unknown>): BookingFacts | null {
  const uid = str(data["uid"]) ?? str(data["bookingUid"]);
  // Booking events carry `bookingId`; a booking row (flat MEETING_*, or MEETING_* once wrapped by
  // the newer MeetingPayloadBuilder) carries its id as `id`.
  const rowShaped = shape === "flat" || triggerEvent.startsWith("MEETING_");
  const bookingId = int(data["bookingId"]) ?? (rowShaped ? int(data["id"]) : null);
  if (uid === null && bookingId === null) return null;
  const status = str(data["status"]);
  return {
    uid,
    bookingId,
    eventTypeId: int(data["eventTypeId"]),
    status: status === null ? null : status.toUpperCase(),
    title: str(data["title"]),
    startTime: parseIsoDate(data["startTime"]),
    endTime: parseIsoDate(data["endTime"]),
    rescheduleUid: str(data["rescheduleUid"]),
    requestReschedule: data["requestReschedule"] === true,
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Lossy = new TextDecoder("utf-8");

export function parseWebhookBody(raw: Buffer, contentType: string | undefined): ParseResult {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, details: [{ path: "", message: "body is not valid UTF-8" }], rawText: utf8Lossy.decode(raw) };
  }

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const ct = contentType?.split(";")[0]?.trim().toLowerCase();
    const hint = ct && ct !== "application/json" ? ` (content-type ${ct}: a custom non-JSON payload template?)` : "";
    return { ok: false, details: [{ path: "", message: `body is not JSON${hint}` }], rawText: text };
  }

  return parseWebhookJson(body, text);
}

/** The envelope checks of `parseWebhookBody` on an already parsed JSON value (e.g. a stored payload). */
export function parseWebhookJson(body: unknown, rawText = ""): ParseResult {
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) return { ok: false, details: toIssues(parsed.error), rawText };

  // The checks passed; keep the original object with all its keys.
  const obj = body as Record<string, unknown>;
  const triggerEvent = parsed.data.triggerEvent;
  const wrapped = isPlainObject(obj["payload"]);
  const shape = wrapped ? "wrapped" : "flat";
  const payload = wrapped ? (obj["payload"] as Record<string, unknown>) : obj;
  const createdAt = wrapped ? parseIsoDate(obj["createdAt"]) : null;
  const booking = bookingFacts(triggerEvent, shape, payload);
  return {
    ok: true,
    text: rawText,
    event: {
      triggerEvent,
      createdAt,
      shape,
      payload,
      booking,
      eventTypeId: booking?.eventTypeId ?? int(payload["eventTypeId"]),
    },
  };
}
