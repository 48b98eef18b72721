/**
 * Cal.com API v2 bookings, version `2024-08-13` (`GET /v2/bookings`; calcom.md §5). Without that
 * `cal-api-version` header an older controller answers another shape.
 *
 * Only the fields reconciliation compares are kept: the schemas are plain (stripping) objects, so
 * attendees, hosts, responses, descriptions and everything else personal is dropped at parse time
 * and never travels further than the HTTP response it came in.
 */
import { z } from "zod";

export const BOOKINGS_API_VERSION = "2024-08-13";

/** Cal.com's largest page (`take` 1-250). */
export const MAX_BOOKINGS_PAGE = 250;

const isoInstant = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO-8601 date-time");

export const calcomBookingSchema = z.object({
  id: z.number().int().nullable().optional(),
  uid: z.string().min(1),
  title: z.string().nullable().optional(),
  /** accepted, cancelled, rejected, pending (the database status, lowercased). */
  status: z.string().min(1),
  start: isoInstant,
  end: isoInstant,
  rescheduledFromUid: z.string().nullable().optional(),
  rescheduledToUid: z.string().nullable().optional(),
  /** Deprecated in favour of `eventType.id`, still sent. */
  eventTypeId: z.number().int().nullable().optional(),
  eventType: z.object({ id: z.number().int().nullable().optional() }).nullable().optional(),
  createdAt: isoInstant.nullable().optional(),
  updatedAt: isoInstant.nullable().optional(),
});
export type CalcomBooking = z.infer<typeof calcomBookingSchema>;

export const bookingsPageEnvelope = z.looseObject({
  status: z.literal("success"),
  data: z.array(calcomBookingSchema),
  pagination: z
    .looseObject({
      hasNextPage: z.boolean(),
      /** Ignores the created/updated filters (calcom.md §5): never page on it. */
      totalItems: z.number().optional(),
    })
    .optional(),
});
export type BookingsPage = { bookings: CalcomBooking[]; hasNextPage: boolean };

export interface ListBookingsQuery {
  /** Bookings updated at or after this instant. */
  afterUpdatedAt?: Date;
  /** Bookings updated at or before this instant. */
  beforeUpdatedAt?: Date;
  /** 1-250 (Default: Cal.com's 100). */
  take?: number;
  skip?: number;
  /** Narrow to a team's bookings (team connections). */
  teamId?: number;
}

/** The query string of one page: sorted by `updatedAt` ascending (there is no tie-breaker). */
export function bookingsQueryString(q: ListBookingsQuery): string {
  const params = new URLSearchParams();
  if (q.afterUpdatedAt) params.set("afterUpdatedAt", q.afterUpdatedAt.toISOString());
  if (q.beforeUpdatedAt) params.set("beforeUpdatedAt", q.beforeUpdatedAt.toISOString());
  params.set("sortUpdatedAt", "asc");
  if (q.take !== undefined) params.set("take", String(Math.min(MAX_BOOKINGS_PAGE, Math.max(1, Math.floor(q.take)))));
  if (q.skip) params.set("skip", String(Math.max(0, Math.floor(q.skip))));
  if (q.teamId !== undefined) params.set("teamId", String(q.teamId));
  return params.toString();
}
