/**
 * Schemas for Cal.com API v2 event types, version `2024-06-14` (`EventTypeOutput_2024_06_14`),
 * and for the v2 response envelope. See /work/shared/calcom.md §3.
 *
 * Only the fields calsync reads are validated; every other field is kept as is (loose objects),
 * so a new Cal.com field never breaks a sync and round-trips untouched.
 */
import { z } from "zod";

/** The `cal-api-version` this module's shapes belong to. */
export const EVENT_TYPES_API_VERSION = "2024-06-14";

/** `{type:"integration",integration:"cal-video"}`, `{type:"address",address,public}`, … */
export const locationSchema = z.looseObject({ type: z.string() });
export type CalcomLocation = z.infer<typeof locationSchema>;

/** Default fields (`isDefault:true`, slugs name/email/…) and custom ones; unknown ones are `type:"unknown"`. */
export const bookingFieldSchema = z.looseObject({ type: z.string(), slug: z.string().optional() });
export type CalcomBookingField = z.infer<typeof bookingFieldSchema>;

export const eventTypeSchema = z.looseObject({
  id: z.number().int(),
  title: z.string(),
  slug: z.string(),
  lengthInMinutes: z.number().int(),
  /** Cal.com sends "" for no description; null is tolerated. */
  description: z.string().nullable().optional(),
  hidden: z.boolean().optional(),
  /** Integer, minor units (cents). */
  price: z.number().optional(),
  currency: z.string().optional(),
  locations: z.array(locationSchema).optional(),
  bookingFields: z.array(bookingFieldSchema).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  ownerId: z.number().int().nullable().optional(),
  /** Team event types only; personal ones have no `teamId`. */
  teamId: z.number().int().nullable().optional(),
  schedulingType: z.string().nullable().optional(),
});
export type CalcomEventType = z.infer<typeof eventTypeSchema>;

/** `DELETE` answers with a stub: `{id, lengthInMinutes, slug, title}` (personal) or `{id, title}` (team). */
export const deletedEventTypeSchema = z.looseObject({ id: z.number().int() });

/** `GET /v2/me`. */
export const meSchema = z.looseObject({
  id: z.number().int(),
  username: z.string().nullable().optional(),
  organizationId: z.number().int().nullable().optional(),
});
export type CalcomMe = z.infer<typeof meSchema>;

/** `{"status":"success","data":…}` */
export function successEnvelope<T extends z.ZodType>(data: T) {
  return z.looseObject({ status: z.literal("success"), data });
}

/** `{"status":"error","timestamp":…,"path":…,"error":{"code":"NotFoundException","message":…,"details":…}}` */
export const errorEnvelopeSchema = z.looseObject({
  status: z.literal("error"),
  timestamp: z.string().optional(),
  path: z.string().optional(),
  error: z.looseObject({
    code: z.string(),
    message: z.string().optional(),
    details: z.unknown().optional(),
  }),
});
export type CalcomErrorEnvelope = z.infer<typeof errorEnvelopeSchema>;

export const eventTypeListEnvelope = successEnvelope(z.array(eventTypeSchema));
/** The list with each item checked on its own (see `checkEventTypes`): one bad item fails nothing. */
export const eventTypeListLenientEnvelope = successEnvelope(z.array(z.unknown()));

/** An item of a listing that is not a usable event type, and why (never its values). */
export interface InvalidEventType {
  /** Its `id` when it has a usable one. */
  id: number | null;
  title: string | null;
  reason: string;
}

/**
 * The same checks as `eventTypeSchema` (same fields, same rules, nested locations and booking
 * fields included), in zod's default strip mode: it accepts and rejects exactly what the loose
 * schema does (a loose object's catch-all is `unknown`, which accepts anything), but does not walk
 * and copy the ~50 fields calsync does not read. `checkEventTypes` keeps the item itself, never
 * zod's output, so the copy was pure cost: 64 → 14 ms of CPU for a 10,000-item listing, warm
 * (109 → 26 ms the first time in a process).
 */
const eventTypeCheckSchema = z.object({
  ...eventTypeSchema.shape,
  locations: z.array(z.object(locationSchema.shape)).optional(),
  bookingFields: z.array(z.object(bookingFieldSchema.shape)).optional(),
});

/** Splits a listing into the items that are event types and the ones that are not. */
export function checkEventTypes(items: unknown[]): { eventTypes: CalcomEventType[]; invalid: InvalidEventType[] } {
  const eventTypes: CalcomEventType[] = [];
  const invalid: InvalidEventType[] = [];
  for (const item of items) {
    const parsed = eventTypeCheckSchema.safeParse(item);
    if (parsed.success) {
      // The item itself, not zod's copy: the schema has no defaults or transforms, so the two are
      // equal, and a 10,000-item listing is then held once rather than twice during a sync.
      eventTypes.push(item as CalcomEventType);
      continue;
    }
    const obj = typeof item === "object" && item !== null ? (item as Record<string, unknown>) : {};
    const id = obj["id"];
    const title = obj["title"];
    invalid.push({
      id: typeof id === "number" && Number.isSafeInteger(id) ? id : null,
      title: typeof title === "string" ? title.slice(0, 200) : null,
      reason: parsed.error.issues.map((i) => `${i.path.join(".") || "(item)"}: ${i.message}`).join("; ").slice(0, 500),
    });
  }
  return { eventTypes, invalid };
}
export const eventTypeEnvelope = successEnvelope(eventTypeSchema);
export const deletedEventTypeEnvelope = successEnvelope(deletedEventTypeSchema);
export const meEnvelope = successEnvelope(meSchema);

/** Body of `POST /v2/event-types` (`CreateEventTypeInput_2024_06_14`) and the team variant. */
export const createEventTypeInputSchema = z.looseObject({
  title: z.string().min(1),
  slug: z.string().min(1),
  lengthInMinutes: z.number().int().positive(),
  description: z.string().optional(),
  hidden: z.boolean().optional(),
  locations: z.array(locationSchema).optional(),
  bookingFields: z.array(bookingFieldSchema).optional(),
  /** Minor units. */
  price: z.number().int().nonnegative().optional(),
  currency: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** Team event types only; required there by Cal.com (the client defaults it to "collective"). */
  schedulingType: z.enum(["collective", "roundRobin", "managed"]).optional(),
  assignAllTeamMembers: z.boolean().optional(),
});
export type CreateEventTypeInput = z.input<typeof createEventTypeInputSchema>;

/** Body of `PATCH /v2/event-types/{id}`: any subset of the create fields. */
export const updateEventTypeInputSchema = createEventTypeInputSchema.partial();
export type UpdateEventTypeInput = z.input<typeof updateEventTypeInputSchema>;

/**
 * True when `data` looks like what Cal.com serves without `cal-api-version: 2024-06-14`
 * (calcom#17769): event types with `length` and no `lengthInMinutes`, or the old grouped list.
 */
export function isLegacyEventTypeShape(data: unknown): boolean {
  const first = Array.isArray(data) ? data[0] : data;
  if (typeof first !== "object" || first === null) return false;
  if ("eventTypeGroups" in first) return true;
  return "length" in first && !("lengthInMinutes" in first);
}
