/**
 * Which company an event from the unscoped paths belongs to, now or later.
 *
 * An event is matched, only ever to a company whose Cal.com connection's ownership is proved
 * (domain/calcom-ownership.ts), by, in this order:
 *   1. its `eventTypeId`, when exactly one such company holds a service for that event type;
 *   2. its booking `uid` (`uid`/`bookingUid`), when exactly one such company holds a booking with it
 *      (uids are unique per company only: two companies may hold the same one, then it is ambiguous);
 *   3. its Cal.com booking id, when exactly one such company holds a booking with it.
 * Events that carry no usable `eventTypeId` (BOOKING_NO_SHOW_UPDATED, AFTER_*_NO_SHOW, the
 * BOOKING_CANCELLED of a host's "Request reschedule") are matched by 2 or 3; the first booking of
 * an event type created since the last sync is matched by 1 once a sync has brought its service.
 *
 * An event that matches nothing is stored UNMATCHED with its keys (`calcom_event_type_id`,
 * `booking_uid`, `calcom_booking_id`). It is not a dead end: `rematchUnmatched` runs after every
 * successful sync (new services), after a webhook creates a booking (new uids), and on
 * `retryWebhookEvent`; each event it matches gets its company, becomes RECEIVED and gets its
 * processing job in the same transaction, continuing the event's own trace.
 *
 * If the matched company already holds an event with the same body (the same delivery also came
 * on its scoped path), the unmatched copy is counted as a duplicate of that event and becomes
 * IGNORED, so the delivery is processed once.
 */
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { encodeGlobalID } from "@pothos/plugin-relay";
import type pg from "pg";
import type { WebhookEnvelope } from "../calcom/webhook-payload.ts";
import { inboxPool, pool } from "../db/client.ts";
import { log } from "../log.ts";
import { enqueue } from "../worker/enqueue.ts";
import { PROCESS_MAX_ATTEMPTS } from "./inbox.ts";

export interface MatchKeys {
  eventTypeId: number | null;
  bookingUid: string | null;
  bookingId: number | null;
}

const INT32_MAX = 2_147_483_647;
const int32 = (n: number | null): number | null => (n !== null && n > 0 && n <= INT32_MAX ? n : null);

/** The keys an event can be matched by (ids beyond the int columns' range are no keys). */
export function matchKeysOf(event: WebhookEnvelope): MatchKeys {
  const uid = event.booking?.uid ?? null;
  return {
    eventTypeId: int32(event.eventTypeId),
    // A uid is short; a longer string is not one we could hold (and keeps index rows small).
    bookingUid: uid !== null && uid.length <= 255 && !uid.includes("\u0000") ? uid.toWellFormed() : null,
    bookingId: int32(event.booking?.bookingId ?? null),
  };
}

export const NO_KEYS: MatchKeys = { eventTypeId: null, bookingUid: null, bookingId: null };

/**
 * Companies that may receive unscoped deliveries: their Cal.com connection's ownership is proved
 * (domain/calcom-ownership.ts). Every rule below looks only at these.
 */
const PROVED = (company: string) =>
  `EXISTS (SELECT 1 FROM calcom_connections c WHERE c.company_id = ${company} AND c.ownership_verified_at IS NOT NULL)`;

/** The company for keys (event type, booking uid, booking id) as SQL, or NULL (see the module comment). */
const COMPANY_FOR_KEYS = (et: string, uid: string, bid: string) => `COALESCE(
    (SELECT (array_agg(DISTINCT s.company_id))[1] FROM services s
      WHERE s.calcom_event_type_id = ${et} AND ${PROVED("s.company_id")} HAVING count(DISTINCT s.company_id) = 1),
    (SELECT (array_agg(DISTINCT b.company_id))[1] FROM bookings b
      WHERE b.uid = ${uid} AND ${PROVED("b.company_id")} HAVING count(DISTINCT b.company_id) = 1),
    (SELECT (array_agg(DISTINCT b.company_id))[1] FROM bookings b
      WHERE b.calcom_booking_id = ${bid} AND ${PROVED("b.company_id")} HAVING count(DISTINCT b.company_id) = 1))`;

/** Why an unscoped delivery was stored UNMATCHED (a metric label and the event's `lastError`). */
export type UnmatchedReason = "no_event_type" | "unknown_event_type" | "unverified_connection" | "ambiguous";

export type Route = { companyId: string; reason?: undefined } | { companyId: null; reason: UnmatchedReason; detail: string };

const LATER = " It is matched again after every successful sync and whenever a webhook brings its booking.";

/**
 * Where an unscoped delivery goes. Invariant (security, issue 11): only to a company whose
 * Cal.com connection's ownership is proved. By its event type when exactly one proved company
 * holds a service for it, else by its booking (uid, then Cal.com id) when a proved company holds
 * it. Anything else stays UNMATCHED with its reason: no event type in the payload, an event type
 * nobody holds, holders whose connections are not proved, or several proved holders (never guess
 * between tenants).
 */
export async function routeUnscoped(keys: MatchKeys): Promise<Route> {
  const { rows } = await inboxPool().query<{ by_keys: string | null; holders: number; proved: number }>(
    `SELECT ${COMPANY_FOR_KEYS("$1::int", "$2::text", "$3::int")}::text AS by_keys,
            (SELECT count(DISTINCT s.company_id)::int FROM services s WHERE s.calcom_event_type_id = $1::int) AS holders,
            (SELECT count(DISTINCT s.company_id)::int FROM services s
              WHERE s.calcom_event_type_id = $1::int AND ${PROVED("s.company_id")}) AS proved`,
    [keys.eventTypeId, keys.bookingUid, keys.bookingId],
  );
  const row = rows[0]!;
  if (row.by_keys) return { companyId: row.by_keys };
  const et = keys.eventTypeId;
  if (et === null) {
    return {
      companyId: null,
      reason: "no_event_type",
      detail: `unmatched: the payload names no eventTypeId${keys.bookingUid || keys.bookingId ? ", and no company holds its booking yet" : ""}.${LATER}`,
    };
  }
  if (row.proved > 1) {
    return {
      companyId: null,
      reason: "ambiguous",
      detail: `unmatched: event type ${et} is held by ${row.proved} companies with proved Cal.com connections; deliver it to a company's own webhook URL instead`,
    };
  }
  if (row.holders > 0) {
    return {
      companyId: null,
      reason: "unverified_connection",
      detail: `unmatched: event type ${et} is held only by companies whose Cal.com team admin rights are not proved (reconnect or sync them).${LATER}`,
    };
  }
  return { companyId: null, reason: "unknown_event_type", detail: `unmatched: no company holds event type ${et}.${LATER}` };
}

export interface RematchScope {
  /** Only these events (retryWebhookEvent). */
  ids?: string[];
  /** Only events naming one of these bookings, by uid or Cal.com id (a webhook just created them). */
  bookings?: { uids: string[]; ids: number[] };
}

export interface RematchResult {
  /** Events that got a company and a processing job. */
  matched: number;
  /** Events whose company already had the same delivery: counted there, IGNORED here. */
  duplicates: number;
}

const BATCH = 200;

/** One batch in one transaction; returns how many candidates it handled. */
async function rematchBatch(client: pg.ClientBase, scope: RematchScope, result: RematchResult): Promise<number> {
  const filters: string[] = [];
  const params: unknown[] = [];
  if (scope.ids) {
    params.push(scope.ids);
    filters.push(`AND e.id = ANY($${params.length}::uuid[])`);
  }
  if (scope.bookings) {
    params.push(scope.bookings.uids, scope.bookings.ids);
    filters.push(`AND (e.booking_uid = ANY($${params.length - 1}::text[]) OR e.calcom_booking_id = ANY($${params.length}::int[]))`);
  }
  await client.query("BEGIN");
  try {
    const { rows } = await client.query<{ id: string; company_id: string; body_sha256: string; trace_carrier: unknown; duplicate_count: number }>(
      `SELECT e.id::text, m.company_id::text, e.body_sha256, e.trace_carrier, e.duplicate_count
         FROM webhook_events e
         CROSS JOIN LATERAL (SELECT ${COMPANY_FOR_KEYS("e.calcom_event_type_id", "e.booking_uid", "e.calcom_booking_id")} AS company_id) m
        WHERE e.status = 'UNMATCHED' AND m.company_id IS NOT NULL ${filters.join(" ")}
        ORDER BY e.id
        LIMIT ${BATCH}
        FOR UPDATE OF e SKIP LOCKED`,
      params,
    );
    for (const row of rows) {
      const updated = await client.query(
        `UPDATE webhook_events e SET company_id = $2::uuid, status = 'RECEIVED', last_error = NULL
          WHERE e.id = $1::uuid
            AND NOT EXISTS (SELECT 1 FROM webhook_events d WHERE d.company_id = $2::uuid AND d.body_sha256 = e.body_sha256)`,
        [row.id, row.company_id],
      );
      if (updated.rowCount === 1) {
        const carrier = carrierOf(row.trace_carrier);
        const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : context.active();
        await context.with(parent, () =>
          enqueue("process_webhook_event", { eventId: row.id }, { maxAttempts: PROCESS_MAX_ATTEMPTS }, client),
        );
        result.matched++;
        continue;
      }
      const first = await client.query<{ id: string }>(
        `UPDATE webhook_events SET duplicate_count = duplicate_count + 1 + $3
          WHERE company_id = $1::uuid AND body_sha256 = $2 RETURNING id::text AS id`,
        [row.company_id, row.body_sha256, row.duplicate_count],
      );
      const firstId = first.rows[0]?.id;
      await client.query(
        `UPDATE webhook_events SET status = 'IGNORED', processed_at = now(), last_error = $2 WHERE id = $1::uuid`,
        [row.id, `the same delivery is event ${firstId ? encodeGlobalID("WebhookEvent", firstId) : "(unknown)"} of its company`],
      );
      result.duplicates++;
    }
    await client.query("COMMIT");
    return rows.length;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

/**
 * Matches UNMATCHED events (all of them, or those in `scope`) that now name a company; each gets
 * its processing job. Safe to run concurrently (rows are locked, skipped when locked elsewhere).
 */
export async function rematchUnmatched(scope: RematchScope = {}): Promise<RematchResult> {
  const result: RematchResult = { matched: 0, duplicates: 0 };
  if (scope.ids?.length === 0) return result;
  if (scope.bookings && scope.bookings.uids.length + scope.bookings.ids.length === 0) return result;
  if (scope.bookings) {
    // Runs after every processed event: one cheap probe (partial indexes) before any transaction.
    const probe = await pool().query(
      `SELECT 1 FROM webhook_events WHERE status = 'UNMATCHED'
          AND (booking_uid = ANY($1::text[]) OR calcom_booking_id = ANY($2::int[])) LIMIT 1`,
      [scope.bookings.uids, scope.bookings.ids],
    );
    if (probe.rowCount === 0) return result;
  } else if (!scope.ids) {
    // Runs after every successful sync: with no UNMATCHED event at all (the usual case), one
    // probe through the UNMATCHED partial indexes instead of an empty BEGIN/SELECT/COMMIT.
    const probe = await pool().query(`SELECT 1 FROM webhook_events WHERE status = 'UNMATCHED' LIMIT 1`);
    if (probe.rowCount === 0) return result;
  }
  const client = await pool().connect();
  let failed: Error | undefined;
  try {
    while ((await rematchBatch(client, scope, result)) === BATCH) {
      // next batch
    }
  } catch (err) {
    failed = err as Error;
    throw err;
  } finally {
    client.release(failed);
  }
  if (result.matched > 0 || result.duplicates > 0) {
    log("webhook").info({ ...result }, "unmatched webhook events matched");
  }
  return result;
}

export function carrierOf(value: unknown): Record<string, string> | null {
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  const entries = Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string");
  return entries.length > 0 ? Object.fromEntries(entries) : null;
}
