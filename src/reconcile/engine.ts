/**
 * One reconcile pass over a company's Cal.com bookings changed in [from, until]: list them page by
 * page, compare each with calsync's booking (compare.ts), and record every difference calsync
 * would apply as an inbox event of source RECONCILE, then apply it with webhook processing.
 *
 * Paging (calcom.md §5 pitfalls): `GET /v2/bookings?afterUpdatedAt=…&sortUpdatedAt=asc`, paged on
 * `hasNextPage` (its `totalItems` ignores the updated filters). Sorting has no tie-breaker and
 * bookings keep changing while we page, so skip/take over one fixed query could miss some. Instead
 * every page restarts the query at the newest `updatedAt` seen (a keyset cursor, inclusive), so
 * consecutive pages overlap by the bookings at that instant; a booking updated meanwhile moves
 * behind the cursor and is met again. Repeats (same uid and updatedAt) are skipped. Only when a
 * whole page shares one `updatedAt` (more bookings changed in the same millisecond than a page
 * holds) does it fall back to skip within that instant, overlapping a tenth of a page; their order
 * is random there, so such a block can in theory lose a booking. Every request goes through the
 * company's client, i.e. through the shared rate budget, with the client's 429 handling.
 *
 * Each page is applied and committed before the next is fetched:
 * 1. one transaction: the inbox rows (status RECEIVED, source RECONCILE, the run's correlation id,
 *    this trace's id and carrier), each one's `process_webhook_event` job (due a minute later: a
 *    safety net should this process die before step 2), and one audit line per recovered change;
 *    a repeat of the very same synthetic body (same company, same hash) is not stored twice;
 * 2. each new event is processed right away, through `processWebhookEvent`, in its own span: the
 *    same rules as a delivered webhook (ordering by time, final states stay final). The job that
 *    follows finds it PROCESSED and does nothing.
 * The run's counts and cursor move after each page (see runs.ts), so an attempt that fails half-way
 * is resumed from its cursor, and a change applied before the failure is unchanged next time:
 * counted once.
 */
import { createHash } from "node:crypto";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import type { CalcomBooking } from "../calcom/bookings.ts";
import { MAX_BOOKINGS_PAGE } from "../calcom/bookings.ts";
import type { CalcomClient } from "../calcom/client.ts";
import { pool } from "../db/client.ts";
import { log } from "../log.ts";
import { bookingsRecovered } from "../metrics.ts";
import { uuidv7 } from "../db/uuid.ts";
import { PROCESS_MAX_ATTEMPTS } from "../webhooks/inbox.ts";
import { processWebhookEvent } from "../webhooks/process.ts";
import { enqueue } from "../worker/enqueue.ts";
import { compare, type Change, type LocalBooking } from "./compare.ts";

const tracer = trace.getTracer("calsync");

/** Default page size: Cal.com's largest, the fewest requests under the rate budget. */
export const PAGE_SIZE = MAX_BOOKINGS_PAGE;

/** A runaway guard: no company has this many pages of changes in one pass. */
const MAX_PAGES = 100_000;

/** How long the safety-net job waits before looking at an event processed inline. */
const SAFETY_NET_DELAY_MS = 60_000;

export interface ReconcileCounts {
  pages: number;
  fetched: number;
  recovered: number;
  updated: number;
  unchanged: number;
}

export interface PageProgress extends ReconcileCounts {
  /** The newest updatedAt applied: an interrupted attempt resumes here. */
  cursor: Date | null;
}

export interface PassOptions {
  companyId: string;
  runId: string;
  correlationId: string;
  client: CalcomClient;
  /** Bookings updated at or after this instant (null: all). */
  from: Date | null;
  /** Bookings updated at or before this instant. */
  until: Date;
  /** Counts already committed by earlier attempts of the run. */
  counts: ReconcileCounts;
  /** 1-250 (Default: PAGE_SIZE). */
  pageSize?: number;
  /** Awaited after each page is committed. */
  onPage?: (p: PageProgress) => Promise<void>;
}

function updatedAtOf(b: CalcomBooking): number | null {
  const v = b.updatedAt ?? b.createdAt;
  if (!v) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : t;
}

export async function reconcilePass(options: PassOptions): Promise<ReconcileCounts> {
  const { companyId, client } = options;
  const take = Math.max(1, Math.min(MAX_BOOKINGS_PAGE, options.pageSize ?? PAGE_SIZE));
  const counts = { ...options.counts };
  const seen = new Set<string>();
  let after = options.from;
  let skip = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const listed = await client.listBookings({
      ...(after ? { afterUpdatedAt: after } : {}),
      beforeUpdatedAt: options.until,
      take,
      ...(skip > 0 ? { skip } : {}),
    });
    counts.pages++;
    const fresh: CalcomBooking[] = [];
    for (const b of listed.bookings) {
      const key = `${b.uid}\u0000${b.updatedAt ?? ""}`;
      if (seen.has(key)) continue;
      seen.add(key);
      fresh.push(b);
    }
    const applied = await applyPage(options, fresh);
    counts.fetched += fresh.length;
    counts.recovered += applied.recovered;
    counts.updated += applied.updated;
    counts.unchanged += applied.unchanged;

    const times = listed.bookings.map(updatedAtOf).filter((t): t is number => t !== null);
    const newest = times.length > 0 ? Math.max(...times) : null;
    const done = !listed.hasNextPage || listed.bookings.length === 0;
    if (!done) {
      if (newest !== null && (after === null || newest > after.getTime())) {
        after = new Date(newest);
        skip = 0;
      } else {
        // The whole page shares the cursor's instant (or, never seen, has no times): step
        // through it, overlapping a little.
        skip += Math.max(1, listed.bookings.length - Math.floor(take / 10));
      }
    }
    await options.onPage?.({ ...counts, cursor: after });
    if (done) return counts;
  }
  throw new Error(`reconcile of company ${companyId} stopped after ${MAX_PAGES} pages`);
}

interface PageOutcome {
  recovered: number;
  updated: number;
  unchanged: number;
}

interface Recorded {
  eventId: string;
  uid: string;
  change: Change;
  trigger: string;
}

/** Compares one page with calsync's bookings and records and applies the differences. */
async function applyPage(options: PassOptions, bookings: CalcomBooking[]): Promise<PageOutcome> {
  const outcome: PageOutcome = { recovered: 0, updated: 0, unchanged: 0 };
  if (bookings.length === 0) return outcome;
  const { companyId, runId, correlationId } = options;
  const client = await pool().connect();
  let broken = false;
  const recorded: Recorded[] = [];
  try {
    await client.query("BEGIN");
    const uids = [...new Set(bookings.map((b) => b.uid))];
    const { rows } = await client.query<LocalBooking & { start_time: Date; end_time: Date; last_event_at: Date | null }>(
      `SELECT uid, status, start_time, end_time, title, last_event_at
         FROM bookings WHERE company_id = $1::uuid AND uid = ANY($2::text[])`,
      [companyId, uids],
    );
    const local = new Map<string, LocalBooking>(
      rows.map((r) => [r.uid, { uid: r.uid, status: r.status, startTime: r.start_time, endTime: r.end_time, title: r.title, lastEventAt: r.last_event_at }]),
    );
    const traceId = trace.getActiveSpan()?.spanContext().traceId ?? null;
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);

    for (const b of bookings) {
      const verdict = compare(b, local.get(b.uid));
      if (verdict.kind !== "recover") {
        outcome.unchanged++;
        continue;
      }
      const body = JSON.stringify(verdict.envelope);
      const id = uuidv7();
      const inserted = await client.query(
        `INSERT INTO webhook_events (id, company_id, trigger_event, status, correlation_id, trace_id, body_sha256, payload,
                                     event_created_at, trace_carrier, source, reconcile_run_id)
         VALUES ($1::uuid, $2::uuid, $3, 'RECEIVED', $4, $5, $6, $7::jsonb, $8::timestamptz, $9::jsonb, 'RECONCILE', $10::uuid)
         ON CONFLICT DO NOTHING`,
        [id, companyId, verdict.envelope.triggerEvent, correlationId, traceId, createHash("sha256").update(body).digest("hex"), body,
          verdict.target.at, JSON.stringify(carrier), runId],
      );
      if (inserted.rowCount !== 1) {
        // This very change was recorded before (an earlier run) and is still to apply: its own
        // event and job take care of it; it is not a second recovery.
        outcome.unchanged++;
        continue;
      }
      await enqueue(
        "process_webhook_event",
        { eventId: id, companyId },
        { maxAttempts: PROCESS_MAX_ATTEMPTS, runAt: new Date(Date.now() + SAFETY_NET_DELAY_MS) },
        client,
      );
      await client.query(
        `INSERT INTO audit_events (id, company_id, actor, action, details, correlation_id)
         VALUES ($1::uuid, $2::uuid, 'reconcile', 'booking.recovered', $3::jsonb, $4)`,
        [uuidv7(), companyId, JSON.stringify({ eventId: id, reconcileRunId: runId, bookingUid: b.uid, change: verdict.change, trigger: verdict.envelope.triggerEvent }), correlationId],
      );
      recorded.push({ eventId: id, uid: b.uid, change: verdict.change, trigger: verdict.envelope.triggerEvent });
      if (verdict.missing) outcome.recovered++;
      else outcome.updated++;
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }

  for (const r of recorded) {
    bookingsRecovered.add(1, { company_id: companyId, change: r.change });
    await tracer.startActiveSpan(
      "reconcile apply booking",
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          "calsync.company_id": companyId,
          "calsync.correlation_id": correlationId,
          "calsync.reconcile.change": r.change,
          "calsync.reconcile_run_id": runId,
        },
      },
      async (span) => {
        try {
          await processWebhookEvent(r.eventId);
        } catch (err) {
          // Stored and with a job: the job retries it (and FAILED shows it if it never applies).
          span.recordException(err as Error);
          log("reconcile").warn({ companyId, eventId: r.eventId, err: (err as Error).name }, "recovered change not applied yet; its job will retry");
        } finally {
          span.end();
        }
      },
    );
  }
  if (recorded.length > 0) {
    log("reconcile").info({ companyId, runId, recovered: outcome.recovered, updated: outcome.updated }, "missed booking changes recovered");
  }
  return outcome;
}
