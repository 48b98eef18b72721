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

const INT32_MAX = 2_147_483_647;
const INT32_MIN = -2_147_483_648;

/** What PostgreSQL cannot hold in text or jsonb: a NUL, or an escaped lone surrogate / NUL in JSON. */
const UNSAFE_JSON = /\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/**
 * Why a schema-valid event type cannot be stored as a service, or null when it can: a value beyond
 * its column (int4 ids, minutes and prices), or text PostgreSQL refuses. Such an event type is
 * skipped by the sync (with this reason on the run), never failing the rest.
 */
export function unstorable(et: CalcomEventType): string | null {
  if (et.id < 1 || et.id > INT32_MAX) return `id ${et.id} is outside 1..${INT32_MAX}`;
  if (et.lengthInMinutes < 0 || et.lengthInMinutes > INT32_MAX) return `lengthInMinutes ${et.lengthInMinutes} is outside 0..${INT32_MAX}`;
  if (et.price !== undefined) {
    const p = Math.round(et.price);
    if (!Number.isFinite(p) || p < INT32_MIN || p > INT32_MAX) return `price ${et.price} does not fit a 32-bit integer (minor units)`;
  }
  for (const [field, v] of [["title", et.title], ["slug", et.slug], ["description", et.description], ["currency", et.currency]] as const) {
    if (typeof v === "string" && v.includes("\u0000")) return `${field} contains a NUL character`;
  }
  for (const [field, v] of [["locations", et.locations], ["bookingFields", et.bookingFields], ["metadata", et.metadata]] as const) {
    if (v === undefined) continue;
    let text: string;
    try {
      text = JSON.stringify(v);
    } catch {
      return `${field} is nested too deeply`;
    }
    if (UNSAFE_JSON.test(text)) return `${field} contains a NUL character or a broken surrogate`;
  }
  return null;
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
