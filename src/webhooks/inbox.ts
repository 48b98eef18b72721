/**
 * The transactional inbox: a signed delivery becomes one `webhook_events` row, and (when it can be
 * processed) its `process_webhook_event` job is added in the same transaction. The caller answers
 * 2xx only after this returns, i.e. after COMMIT.
 *
 * De-duplication is the unique index on (company_id, body_sha256) (and its partial twin for
 * company_id IS NULL), not the job queue: `INSERT … ON CONFLICT DO NOTHING` lets the first of any
 * number of concurrent copies win; the others wait for it to commit, find its row and count
 * themselves in `duplicate_count`. If the first one rolls back, the next one inserts instead.
 */
import { randomBytes } from "node:crypto";
import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import type pg from "pg";
import type { WebhookEventStatus } from "../generated/prisma/enums.ts";
import { db, inboxPool } from "../db/client.ts";
import { audit } from "../domain/audit.ts";
import { NotFoundError, UserInputError } from "../domain/errors.ts";
import { enqueue } from "../worker/enqueue.ts";

/** Attempts of one processing job before the event is FAILED (graphile-worker backs off between). */
export const PROCESS_MAX_ATTEMPTS = 8;

/** A time-ordered random UUID (v7), like the ids Prisma generates for the other rows. */
export function uuidv7(): string {
  const b = randomBytes(16);
  const ms = Date.now();
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface Delivery {
  companyId: string | null;
  triggerEvent: string;
  /** RECEIVED (gets a job), UNMATCHED or INVALID (stored only). */
  status: Extract<WebhookEventStatus, "RECEIVED" | "UNMATCHED" | "INVALID">;
  bodySha256: string;
  /** The body as JSON text (stored as jsonb), or null when it is not JSON. */
  payloadJson: string | null;
  /** The body as text when it is not stored as `payloadJson`. */
  rawBody: string | null;
  contentType: string | null;
  eventCreatedAt: Date | null;
  /** Why the event is not processed (UNMATCHED: the routing reason), shown to the admin as `lastError`. */
  note?: string | null;
  correlationId: string;
  traceId: string | null;
  traceCarrier: Record<string, string>;
}

export interface Stored {
  id: string;
  duplicate: boolean;
  /** The stored row's status (the first delivery's, for a duplicate). */
  status: WebhookEventStatus;
}

async function insertOrCount(client: pg.ClientBase, d: Delivery): Promise<Stored | null> {
  const id = uuidv7();
  const inserted = await client.query<{ id: string }>(
    `INSERT INTO webhook_events (id, company_id, trigger_event, status, correlation_id, trace_id, body_sha256,
                                 payload, raw_body, content_type, event_created_at, trace_carrier, last_error)
     VALUES ($1::uuid, $2::uuid, $3, $4::"WebhookEventStatus", $5, $6, $7, $8::jsonb, $9, $10, $11::timestamptz, $12::jsonb, $13)
     ON CONFLICT DO NOTHING
     RETURNING id::text AS id`,
    [id, d.companyId, d.triggerEvent, d.status, d.correlationId, d.traceId, d.bodySha256, d.payloadJson,
      d.rawBody, d.contentType, d.eventCreatedAt, JSON.stringify(d.traceCarrier), d.note ?? null],
  );
  if (inserted.rowCount === 1) {
    if (d.status === "RECEIVED") {
      await enqueue("process_webhook_event", { eventId: id }, { maxAttempts: PROCESS_MAX_ATTEMPTS }, client);
    }
    return { id, duplicate: false, status: d.status };
  }
  // Another delivery of the same body won (and has committed: ON CONFLICT waited for it).
  // Two statements, not IS NOT DISTINCT FROM: each matches one of the two unique indexes.
  const existing =
    d.companyId === null
      ? await client.query<{ id: string; status: WebhookEventStatus }>(
          `UPDATE webhook_events SET duplicate_count = duplicate_count + 1
            WHERE company_id IS NULL AND body_sha256 = $1
            RETURNING id::text AS id, status::text AS status`,
          [d.bodySha256],
        )
      : await client.query<{ id: string; status: WebhookEventStatus }>(
          `UPDATE webhook_events SET duplicate_count = duplicate_count + 1
            WHERE company_id = $1::uuid AND body_sha256 = $2
            RETURNING id::text AS id, status::text AS status`,
          [d.companyId, d.bodySha256],
        );
  const row = existing.rows[0];
  return row ? { id: row.id, duplicate: true, status: row.status } : null;
}

/**
 * Stores one verified delivery (and enqueues its job) in one transaction; throws when the
 * database cannot commit, and then nothing was stored.
 *
 * This is the ingest hot path, so it runs on a pooled pg client with its own BEGIN/COMMIT:
 * Prisma's interactive transaction cost more CPU than the statements themselves (bench).
 */
export async function storeDelivery(d: Delivery): Promise<Stored> {
  // The conflicting row can only vanish between INSERT and UPDATE if it is deleted (its company
  // removed) in that instant; then the next round inserts.
  for (let round = 0; round < 3; round++) {
    const client = await inboxPool().connect();
    let failed: Error | undefined;
    try {
      await client.query("BEGIN");
      const stored = await insertOrCount(client, d);
      await client.query("COMMIT");
      if (stored) return stored;
    } catch (err) {
      failed = err as Error;
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      // A client whose statement failed may have lost its connection: discard it, not reuse it.
      client.release(failed);
    }
  }
  throw new Error("webhook event neither inserted nor found");
}

/** Why an unscoped delivery was stored UNMATCHED (a metric label and the event's `lastError`). */
export type UnmatchedReason = "no_event_type" | "unknown_event_type" | "unverified_connection" | "ambiguous";

export type Route = { companyId: string; reason?: undefined } | { companyId: null; reason: UnmatchedReason; detail: string };

/**
 * Where an unscoped delivery goes: the ONE company holding a service for this Cal.com event type
 * whose connection's ownership is proved (see domain/calcom-ownership.ts). Anything else stays
 * UNMATCHED with its reason: no event type in the payload, an event type nobody holds, holders
 * whose connections are not proved, or several proved holders (never guess between tenants).
 */
export async function companyForEventType(eventTypeId: number | null): Promise<Route> {
  if (eventTypeId === null) {
    return { companyId: null, reason: "no_event_type", detail: "unmatched: the payload names no eventTypeId" };
  }
  const { rows } = await inboxPool().query<{ company_id: string; verified: boolean }>(
    `SELECT s.company_id::text AS company_id, bool_or(c.ownership_verified_at IS NOT NULL) AS verified
       FROM services s
       LEFT JOIN calcom_connections c ON c.company_id = s.company_id
      WHERE s.calcom_event_type_id = $1
      GROUP BY s.company_id
      LIMIT 20`,
    [eventTypeId],
  );
  const verified = rows.filter((r) => r.verified);
  if (verified.length === 1) return { companyId: verified[0]!.company_id };
  if (verified.length > 1) {
    return {
      companyId: null,
      reason: "ambiguous",
      detail: `unmatched: event type ${eventTypeId} is held by ${verified.length} companies with proved Cal.com connections; deliver it to a company's own webhook URL instead`,
    };
  }
  if (rows.length > 0) {
    return {
      companyId: null,
      reason: "unverified_connection",
      detail: `unmatched: event type ${eventTypeId} is held only by companies whose Cal.com team admin rights are not proved (reconnect or sync them)`,
    };
  }
  return { companyId: null, reason: "unknown_event_type", detail: `unmatched: no company holds event type ${eventTypeId}` };
}

const RETRYABLE: WebhookEventStatus[] = ["FAILED", "RECEIVED"];

/**
 * Puts a FAILED (or stuck RECEIVED) event back to RECEIVED and enqueues a new job for it. The job
 * continues the event's own trace (the carrier stored at receipt), so the retry is part of it.
 */
export async function requeueWebhookEvent(eventId: string, actor: string): Promise<void> {
  const event = await db().webhookEvent.findUnique({
    where: { id: eventId },
    select: { companyId: true, status: true, traceCarrier: true },
  });
  if (!event) throw new NotFoundError("WebhookEvent");
  const companyId = event.companyId;
  if (!companyId) throw new UserInputError("An unmatched event belongs to no company and cannot be processed.", "id");
  if (!RETRYABLE.includes(event.status)) {
    throw new UserInputError(`Only FAILED or RECEIVED events can be retried; this one is ${event.status}.`, "id");
  }
  const carrier = carrierOf(event.traceCarrier);
  await db().$transaction(async (tx) => {
    const { count } = await tx.webhookEvent.updateMany({
      where: { id: eventId, status: { in: RETRYABLE } },
      data: { status: "RECEIVED" },
    });
    if (count === 0) throw new UserInputError("The event was processed in the meantime.", "id");
    const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : context.active();
    await context.with(parent, () =>
      enqueue("process_webhook_event", { eventId }, { maxAttempts: PROCESS_MAX_ATTEMPTS }, tx),
    );
    await audit(companyId, actor, "webhook_event.retried", { eventId, previousStatus: event.status }, tx);
  });
}

function carrierOf(value: unknown): Record<string, string> | null {
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  const entries = Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string");
  return entries.length > 0 ? Object.fromEntries(entries) : null;
}
