/**
 * The SQL that applies Cal.com event types to `services`, shared by the full sync and the
 * single-event-type refresh. Set-based: one statement per chunk of rows, whatever its size.
 */
import { uuidv7 } from "../db/uuid.ts";
import type pg from "pg";
import type { ServiceProjection } from "./normalise.ts";

/** Rows per upsert statement: one `jsonb_to_recordset` parameter, so no bind-parameter limit applies. */
export const CHUNK_SIZE = 500;


export interface UpsertCounts {
  created: number;
  updated: number;
  unchanged: number;
}

type Queryable = Pick<pg.PoolClient, "query">;

/*
 * New event types become SYNCED services. An existing service is written only when its content
 * hash differs, or when its state says it is not in step (PENDING, ERROR, REMOTE_DELETED that came
 * back, or a leftover sync error): an unchanged, SYNCED service costs no write at all. LEGACY is
 * an operator's decision and is kept; its fields still follow Cal.com.
 */
const UPSERT = `
  INSERT INTO services AS s (
    id, company_id, calcom_event_type_id, name, slug, description, duration_minutes, price_minor,
    currency, hidden, locations, booking_fields, metadata, content_hash, sync_status,
    last_calcom_sync, sync_error, created_at, updated_at)
  SELECT r.id, $1::uuid, r.event_type_id, r.name, r.slug, r.description, r.duration_minutes, r.price_minor,
         r.currency, r.hidden, r.locations, r.booking_fields, r.metadata, r.content_hash, 'SYNCED',
         now(), NULL, now(), now()
    FROM jsonb_to_recordset($2::jsonb) AS r(
      id uuid, event_type_id int, name text, slug text, description text, duration_minutes int,
      price_minor int, currency text, hidden boolean, locations jsonb, booking_fields jsonb,
      metadata jsonb, content_hash text)
  ON CONFLICT (company_id, calcom_event_type_id) DO UPDATE SET
    name = EXCLUDED.name,
    slug = EXCLUDED.slug,
    description = EXCLUDED.description,
    duration_minutes = EXCLUDED.duration_minutes,
    price_minor = EXCLUDED.price_minor,
    currency = EXCLUDED.currency,
    hidden = EXCLUDED.hidden,
    locations = EXCLUDED.locations,
    booking_fields = EXCLUDED.booking_fields,
    metadata = EXCLUDED.metadata,
    content_hash = EXCLUDED.content_hash,
    sync_status = CASE WHEN s.sync_status = 'LEGACY' THEN s.sync_status ELSE 'SYNCED' END,
    last_calcom_sync = EXCLUDED.last_calcom_sync,
    sync_error = NULL,
    updated_at = EXCLUDED.updated_at
  WHERE s.content_hash IS DISTINCT FROM EXCLUDED.content_hash
     OR s.sync_status NOT IN ('SYNCED', 'LEGACY')
     OR s.sync_error IS NOT NULL
  RETURNING (xmax = 0) AS inserted`;

/** Upserts one chunk (at most a few hundred rows) in one statement. */
export async function upsertServices(q: Queryable, companyId: string, rows: readonly ServiceProjection[]): Promise<UpsertCounts> {
  if (rows.length === 0) return { created: 0, updated: 0, unchanged: 0 };
  const records = rows.map((p) => ({
    id: uuidv7(),
    event_type_id: p.eventTypeId,
    name: p.name,
    slug: p.slug,
    description: p.description,
    duration_minutes: p.durationMinutes,
    price_minor: p.priceMinor,
    currency: p.currency,
    hidden: p.hidden,
    locations: p.locations,
    booking_fields: p.bookingFields,
    metadata: p.metadata,
    content_hash: p.contentHash,
  }));
  const res = await q.query<{ inserted: boolean }>({ text: UPSERT, values: [companyId, JSON.stringify(records)] });
  const created = res.rows.filter((r) => r.inserted).length;
  const updated = res.rows.length - created;
  return { created, updated, unchanged: rows.length - res.rows.length };
}

/** What the sync needs to know of a service linked to Cal.com (not its content). */
export interface LinkedService {
  id: string;
  eventTypeId: number;
  contentHash: string | null;
  syncStatus: string;
  hasError: boolean;
}

/** The company's services linked to Cal.com, by event type id: a few dozen bytes each. */
export async function loadLinked(q: Queryable, companyId: string): Promise<Map<number, LinkedService>> {
  const res = await q.query<LinkedService>({
    text: `SELECT id::text AS id, calcom_event_type_id AS "eventTypeId", content_hash AS "contentHash",
                  sync_status::text AS "syncStatus", sync_error IS NOT NULL AS "hasError"
             FROM services WHERE company_id = $1::uuid AND calcom_event_type_id IS NOT NULL`,
    values: [companyId],
  });
  return new Map(res.rows.map((r) => [r.eventTypeId, r]));
}

/** The same test as the upsert's WHERE: does applying `row` to `held` change anything? */
export function needsWrite(held: LinkedService | undefined, row: ServiceProjection): boolean {
  if (!held) return true;
  return held.contentHash !== row.contentHash || !(held.syncStatus === "SYNCED" || held.syncStatus === "LEGACY") || held.hasError;
}

/** Counted by the safety valve and marked when gone: believed present on Cal.com, and not LEGACY. */
export function isLive(held: LinkedService): boolean {
  return held.syncStatus !== "REMOTE_DELETED" && held.syncStatus !== "LEGACY";
}

/** Marks the given services REMOTE_DELETED (never deletes them); returns how many changed. */
export async function markRemoteDeleted(q: Queryable, serviceIds: readonly string[]): Promise<number> {
  if (serviceIds.length === 0) return 0;
  const res = await q.query({
    text: `UPDATE services SET sync_status = 'REMOTE_DELETED', updated_at = now()
            WHERE id = ANY($1::uuid[]) AND sync_status NOT IN ('REMOTE_DELETED', 'LEGACY')`,
    values: [serviceIds],
  });
  return res.rowCount ?? 0;
}
