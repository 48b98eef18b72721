/**
 * What a service keeps of a Cal.com event type, and its content hash.
 *
 * The hash covers exactly the stored projection, in a canonical form (object keys sorted), so an
 * event type whose stored fields did not change hashes the same however Cal.com orders its JSON
 * and whatever it changed elsewhere (buffers, users, …): the sync writes nothing for it.
 *
 * Booking fields with `hidden: true` are left out: Cal.com drops them from list output but not
 * from `GET /v2/event-types/{id}`, and the full sync and `sync_service` must agree on the hash.
 */
import { createHash } from "node:crypto";
import type { CalcomEventType } from "../calcom/event-types.ts";

/** Bump when the projection changes: every service is then rewritten once. */
const HASH_VERSION = "v1";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ServiceProjection {
  eventTypeId: number;
  name: string;
  slug: string;
  description: string | null;
  durationMinutes: number;
  priceMinor: number | null;
  currency: string | null;
  hidden: boolean;
  locations: Json | null;
  bookingFields: Json | null;
  metadata: Json | null;
  contentHash: string;
}

export function project(et: CalcomEventType): ServiceProjection {
  const fields = {
    name: et.title,
    slug: et.slug,
    description: et.description ? et.description : null,
    durationMinutes: et.lengthInMinutes,
    priceMinor: et.price === undefined ? null : Math.round(et.price),
    currency: et.currency ?? null,
    hidden: et.hidden ?? false,
    locations: (et.locations as Json | undefined) ?? null,
    bookingFields: (et.bookingFields?.filter((f) => f["hidden"] !== true) as Json | undefined) ?? null,
    metadata: (et.metadata as Json | undefined) ?? null,
  };
  return { eventTypeId: et.id, ...fields, contentHash: contentHash(fields) };
}

export function contentHash(value: unknown): string {
  return createHash("sha256").update(HASH_VERSION).update("\n").update(canonicalJson(value)).digest("hex");
}

/** JSON with object keys sorted at every depth (arrays keep their order); `undefined` members are dropped. */
export function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }) ?? "null"
  );
}
