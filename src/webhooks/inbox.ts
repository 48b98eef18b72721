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
import { uuidv7 } from "../db/uuid.ts";
import type pg from "pg";
import type { WebhookEventStatus } from "../generated/prisma/enums.ts";
import { inboxPool } from "../db/client.ts";
import { publishWith } from "../worker/enqueue.ts";
import type { MatchKeys } from "./match.ts";
import { jsonbSafe, mayHoldUnsafeEscapes, textSafe } from "./safe-json.ts";

/** Attempts of one processing job before the event is FAILED (graphile-worker backs off between). */
export const PROCESS_MAX_ATTEMPTS = 8;


export interface Delivery {
  companyId: string | null;
  triggerEvent: string;
  /** RECEIVED (gets a job), UNMATCHED or INVALID (stored only). */
  status: Extract<WebhookEventStatus, "RECEIVED" | "UNMATCHED" | "INVALID">;
  /** The exact signed bytes (hashed, and kept in `raw_bytes` when the stored text is not them). */
  raw: Buffer;
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
  /** Keys to match the event to a company later (UNMATCHED) or to find it by. */
  keys: MatchKeys;
}

/** How a delivery was stored: as sent, or (see storeDelivery) in a safe form beside its raw bytes. */
export type StoredForm = "as_sent" | "safe_payload" | "raw_bytes_only";

export interface Stored {
  id: string;
  duplicate: boolean;
  /** The stored row's status (the first delivery's, for a duplicate). */
  status: WebhookEventStatus;
  form: StoredForm;
}

interface Row {
  delivery: Delivery;
  form: StoredForm;
  rawBytes: Buffer | null;
}

/** The event row and (for RECEIVED) its job, in one statement: atomic without BEGIN/COMMIT. */
const INSERT_EVENT_AND_JOB = `
  WITH ins AS (
    INSERT INTO webhook_events (id, company_id, trigger_event, status, correlation_id, trace_id, body_sha256,
                                payload, raw_body, content_type, event_created_at, trace_carrier, raw_bytes,
                                calcom_event_type_id, booking_uid, calcom_booking_id, last_error)
    VALUES ($1::uuid, $2::uuid, $3, $4::"WebhookEventStatus", $5, $6, $7, $8::jsonb, $9, $10, $11::timestamptz, $12::jsonb, $13,
            $14::int, $15, $16::int, $17)
    ON CONFLICT DO NOTHING
    RETURNING id)
  SELECT ins.id::text AS id,
         CASE WHEN $18::json IS NULL THEN NULL
              ELSE (graphile_worker.add_job(identifier => 'process_webhook_event', payload => $18::json, max_attempts => $19::int)).id::text
         END AS job_id
    FROM ins`;

/**
 * Several deliveries' rows and jobs in one statement (see EventWriter): the same columns as
 * INSERT_EVENT_AND_JOB, one JSON object per row in one jsonb array (see batchDocument), inserted
 * in the order given (`ord`); the inserted rows' jobs are added in id order (UUIDv7: arrival order
 * to the millisecond; the subquery sorts before add_job runs). A row's payload is spliced into
 * the document as the JSON text it is, so it is parsed once, by PostgreSQL, as when it is written
 * alone (as text[] elements, pg escaped every quote of every payload: 12 KB of strings per delivery).
 */
const INSERT_EVENTS_AND_JOBS = `
  WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(
      ord int, id uuid, company_id uuid, trigger_event text, status "WebhookEventStatus", correlation_id text, trace_id text,
      body_sha256 text, payload jsonb, raw_body text, content_type text, event_created_at timestamptz, trace_carrier jsonb,
      raw_bytes bytea, calcom_event_type_id int, booking_uid text, calcom_booking_id int, last_error text, job_payload json)),
  ins AS (
    INSERT INTO webhook_events (id, company_id, trigger_event, status, correlation_id, trace_id, body_sha256,
                                payload, raw_body, content_type, event_created_at, trace_carrier, raw_bytes,
                                calcom_event_type_id, booking_uid, calcom_booking_id, last_error)
    SELECT id, company_id, trigger_event, status, correlation_id, trace_id, body_sha256,
           payload, raw_body, content_type, event_created_at, trace_carrier, raw_bytes,
           calcom_event_type_id, booking_uid, calcom_booking_id, last_error
      FROM input ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id)
  SELECT x.id::text AS id,
         CASE WHEN x.job_payload IS NULL THEN NULL
              ELSE (graphile_worker.add_job(identifier => 'process_webhook_event', payload => x.job_payload, max_attempts => $2::int)).id::text
         END AS job_id
    FROM (SELECT ins.id, input.job_payload FROM ins JOIN input USING (id) ORDER BY input.id OFFSET 0) x`;

/** Names of INSERT_EVENT_AND_JOB's first 17 parameters, in order (the batch document's keys). */
const COLUMN_KEYS = ["id", "company_id", "trigger_event", "status", "correlation_id", "trace_id", "body_sha256", "payload",
  "raw_body", "content_type", "event_created_at", "trace_carrier", "raw_bytes", "calcom_event_type_id", "booking_uid",
  "calcom_booking_id", "last_error"] as const;
const PAYLOAD = COLUMN_KEYS.indexOf("payload");
const TRACE_CARRIER = COLUMN_KEYS.indexOf("trace_carrier");

/**
 * The batch as one JSON array of row objects. JSON texts (the payload, the trace carrier, the job
 * payload) are spliced in as they are; a null is left out (jsonb_to_recordset reads a missing key as
 * SQL NULL, where a JSON null would be a jsonb 'null'); bytes go as bytea's hex text.
 *
 * Splicing is safe because every spliced text is one complete JSON value: the payload is the body
 * JSON.parse accepted (a body that is not JSON travels as `raw_body`, a string), the carrier and
 * the job payload come from JSON.stringify. A complete value cannot close its row's object, so a
 * sender's bytes can never add or override a column of their row or another's (company_id,
 * status). A text PostgreSQL's parser refuses where JSON.parse did not (a \u0000 escape) fails
 * the statement with a class-22 error, and the batch is then written one statement each.
 */
function batchDocument(rows: PendingWrite[]): string {
  const parts: string[] = [];
  rows.forEach((w, ord) => {
    let obj = `{"ord":${ord}`;
    COLUMN_KEYS.forEach((key, c) => {
      const v = w.params[c];
      if (v === null || v === undefined) return;
      let json: string;
      if (c === PAYLOAD || c === TRACE_CARRIER) json = v as string;
      else if (Buffer.isBuffer(v)) json = `"\\\\x${v.toString("hex")}"`;
      else if (v instanceof Date) json = `"${v.toISOString()}"`;
      else json = JSON.stringify(v);
      obj += `,"${key}":${json}`;
    });
    if (w.jobPayload !== null) obj += `,"job_payload":${w.jobPayload}`;
    parts.push(`${obj}}`);
  });
  return `[${parts.join(",")}]`;
}

/** What one write did: the row was inserted (and its job added), or a conflicting row exists. */
interface Written {
  inserted: boolean;
  jobId: string | null;
}

interface PendingWrite {
  /** The 17 column values of INSERT_EVENT_AND_JOB, in its order. */
  params: unknown[];
  /** The job's payload (RECEIVED), or null: no job. */
  jobPayload: string | null;
  resolve: (w: Written) => void;
  reject: (err: unknown) => void;
}

/** Statements the writer keeps on the ingest pool at once (the rest of the pool serves secrets, routing, duplicates). */
const WRITER_STATEMENTS = 2;
/** Rows in one statement at most. */
const WRITER_BATCH = 100;

/**
 * Group commit for the inbox. Every transaction that adds a job notifies the workers
 * (graphile-worker's add_job calls pg_notify), and PostgreSQL serialises the commits of
 * notifying transactions: each holds the database's notify lock from just before its commit
 * record until the commit is flushed to disk. So one delivery per transaction commits one
 * delivery per WAL flush, whatever the pool size: under load most of the ingest path's time was
 * spent waiting for that lock (bench, 64 connections: `Lock:object` in 54-75 % of samples of the
 * active backends, the naive floor alike), and every slow flush delayed every delivery queued
 * behind it.
 *
 * The writer keeps at most WRITER_STATEMENTS statements in flight. A delivery that finds a free
 * slot is written alone, at once (no added latency when idle); deliveries arriving while the
 * slots are busy wait, and the next free slot writes all of them (up to WRITER_BATCH) in one
 * statement: one transaction, one notify lock, one WAL flush for the lot.
 *
 * Invariants (the caller answers 202 only after its write resolves):
 * - A write resolves only after the statement holding its row has committed; if the statement
 *   fails, no row of it was stored (one statement, one transaction) and every write in it is
 *   either retried alone or rejected with the error (the caller answers 503).
 * - A value PostgreSQL refuses (class 22/54) fails the whole statement: the writes of a batch
 *   are then retried one statement each, so only the delivery that carries the refused value sees
 *   the refusal (and storeDelivery stores it in its safe form), and no other is affected.
 * - Rows of a batch are inserted in (company_id, body_sha256) order, the key of the unique
 *   indexes a concurrent copy of the same body waits on: two batches holding copies of the same
 *   bodies wait for each other in one order only, never in a cycle. Should a deadlock be
 *   reported anyway (40P01), the writes are retried one statement each, like a refusal.
 * - Rows of one statement share `received_at` (the transaction's time), as rows of one millisecond
 *   always could; processing orders by (received_at, id), ids being UUIDv7 made at arrival, and
 *   the outcome of a booking's events never depends on that order (process.ts, "Ordering").
 */
class EventWriter {
  #inFlight = 0;
  readonly #waiting: PendingWrite[] = [];

  write(params: unknown[], jobPayload: string | null): Promise<Written> {
    return new Promise<Written>((resolve, reject) => {
      this.#waiting.push({ params, jobPayload, resolve, reject });
      if (this.#inFlight < WRITER_STATEMENTS) this.#flush();
    });
  }

  #flush(): void {
    const batch = this.#waiting.splice(0, WRITER_BATCH);
    if (batch.length === 0) return;
    this.#inFlight++;
    void this.#run(batch).finally(() => {
      this.#inFlight--;
      if (this.#waiting.length > 0) this.#flush();
    });
  }

  async #run(batch: PendingWrite[]): Promise<void> {
    if (batch.length === 1) return void (await writeAlone(batch[0]!));
    let result: Map<string, string | null>;
    try {
      result = await writeMany(batch);
    } catch (err) {
      if (refusedValue(err) || deadlock(err)) {
        await Promise.all(batch.map(writeAlone));
        return;
      }
      for (const w of batch) w.reject(err);
      return;
    }
    for (const w of batch) {
      const id = w.params[0] as string;
      w.resolve(result.has(id) ? { inserted: true, jobId: result.get(id)! } : { inserted: false, jobId: null });
    }
  }
}

async function writeAlone(w: PendingWrite): Promise<void> {
  try {
    const r = await inboxPool().query<{ id: string; job_id: string | null }>(INSERT_EVENT_AND_JOB, [...w.params, w.jobPayload, PROCESS_MAX_ATTEMPTS]);
    w.resolve({ inserted: r.rowCount === 1, jobId: r.rows[0]?.job_id ?? null });
  } catch (err) {
    w.reject(err);
  }
}

/** Orders rows by the unique key a conflicting copy waits on (company_id NULLs last, then body_sha256). */
function byConflictKey(a: PendingWrite, b: PendingWrite): number {
  const ca = (a.params[1] as string | null) ?? "\uffff";
  const cb = (b.params[1] as string | null) ?? "\uffff";
  if (ca !== cb) return ca < cb ? -1 : 1;
  const sa = a.params[6] as string;
  const sb = b.params[6] as string;
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** Writes the batch in one statement; returns the inserted ids with their job ids. */
async function writeMany(batch: PendingWrite[]): Promise<Map<string, string | null>> {
  let document: string;
  try {
    document = batchDocument([...batch].sort(byConflictKey));
  } catch (err) {
    // A value that cannot be written into the document (an invalid Date): one statement each.
    throw Object.assign(new Error("batch document", { cause: err }), { code: "22000" });
  }
  const r = await inboxPool().query<{ id: string; job_id: string | null }>(INSERT_EVENTS_AND_JOBS, [document, PROCESS_MAX_ATTEMPTS]);
  return new Map(r.rows.map((row) => [row.id, row.job_id]));
}

const writer = new EventWriter();

async function insertOrCount(client: pg.Pool, { delivery: d, form, rawBytes }: Row): Promise<Stored | null> {
  const id = uuidv7();
  const params = [id, d.companyId, d.triggerEvent, d.status, d.correlationId, d.traceId, d.bodySha256, d.payloadJson,
    d.rawBody, d.contentType, d.eventCreatedAt, JSON.stringify(d.traceCarrier), rawBytes,
    d.keys.eventTypeId, d.keys.bookingUid, d.keys.bookingId, d.note ?? null];
  let inserted = false;
  const insert = async (payloadJson: string | null) => {
    const w = await writer.write(params, payloadJson);
    inserted = w.inserted;
    return w.jobId;
  };
  if (d.status === "RECEIVED") await publishWith("process_webhook_event", { eventId: id }, insert);
  else await insert(null);
  if (inserted) return { id, duplicate: false, status: d.status, form };
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
  return row ? { id: row.id, duplicate: true, status: row.status, form } : null;
}

/** PostgreSQL detected a deadlock and aborted this statement (40P01). */
function deadlock(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "40P01";
}

/** PostgreSQL refused a value (data exception, class 22) or its shape (program limit, class 54). */
function refusedValue(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("54"));
}

/** The exact bytes, unless the text stored is already exactly them. */
function bytesUnlessFaithful(text: string | null, raw: Buffer): Buffer | null {
  return text !== null && !text.includes("\u0000") && Buffer.byteLength(text) === raw.length && Buffer.from(text).equals(raw)
    ? null
    : raw;
}

function tryJsonbSafe(text: string): string | null {
  try {
    return jsonbSafe(text);
  } catch {
    return null; // not JSON after all: the bytes alone will do
  }
}

/**
 * The forms a delivery is stored in, tried in order until PostgreSQL takes one (see storeDelivery).
 * Each is built only when the one before was refused.
 */
function* forms(d: Delivery): Generator<Row> {
  // Known refusals skip straight to the safe form (no failed round trip).
  const unsafe = d.payloadJson !== null ? mayHoldUnsafeEscapes(d.payloadJson) : (d.rawBody?.includes("\u0000") ?? false);
  if (!unsafe) {
    yield { delivery: d, form: "as_sent", rawBytes: d.payloadJson === null ? bytesUnlessFaithful(d.rawBody, d.raw) : null };
  }
  const safePayload = d.payloadJson === null ? null : tryJsonbSafe(d.payloadJson);
  if (safePayload !== null) {
    yield {
      delivery: { ...d, triggerEvent: textSafe(d.triggerEvent, 200), payloadJson: safePayload },
      form: "safe_payload",
      rawBytes: d.raw,
    };
  } else if (d.payloadJson === null && d.rawBody !== null) {
    yield { delivery: { ...d, triggerEvent: textSafe(d.triggerEvent, 200), rawBody: textSafe(d.rawBody) }, form: "safe_payload", rawBytes: d.raw };
  }
  // Last resort: the bytes alone (bytea takes anything). Nothing to process, so INVALID.
  yield {
    delivery: { ...d, status: "INVALID", triggerEvent: "UNKNOWN", payloadJson: null, rawBody: null, keys: { eventTypeId: null, bookingUid: null, bookingId: null } },
    form: "raw_bytes_only",
    rawBytes: d.raw,
  };
}

/**
 * Stores one verified delivery (and enqueues its job) in one transaction; throws when the
 * database cannot commit, and then nothing was stored.
 *
 * Every correctly signed body is stored (CONTRACT §3): when PostgreSQL refuses the body as sent
 * (a NUL, a lone surrogate, nesting deeper than jsonb takes, a number beyond `numeric`), the
 * delivery is stored with a safe payload (safe-json.ts) beside its exact bytes in `raw_bytes`,
 * and still processed; should even that be refused, as INVALID with the bytes alone. Only other
 * errors (the database is down, the pool is exhausted) reach the caller, who answers 503.
 *
 * This is the ingest hot path: one statement on the ingest pool stores the row and adds its job
 * (a data-modifying CTE commits both or neither), where BEGIN, INSERT, add_job, COMMIT took four
 * round trips (the naive floor still does); Prisma's interactive transaction cost more CPU than
 * the statements themselves (bench). Under load that statement carries the rows of every
 * delivery waiting for it (EventWriter: one commit for many). A body as sent costs nothing
 * extra; the safe forms are built only after a refusal.
 */
export async function storeDelivery(d: Delivery): Promise<Stored> {
  for (const row of forms(d)) {
    try {
      return await storeRow(row);
    } catch (err) {
      if (!refusedValue(err) || row.form === "raw_bytes_only") throw err;
    }
  }
  throw new Error("unreachable: the last form either stores or throws");
}

async function storeRow(row: Row): Promise<Stored> {
  // The conflicting row can only vanish between INSERT and UPDATE if it is deleted (its company
  // removed) in that instant; then the next round inserts.
  for (let round = 0; round < 3; round++) {
    // The ingest pool: GraphQL load on the main pool cannot hold up a signed delivery's commit.
    // Each statement commits on its own: the event with its job, or a duplicate's count.
    const stored = await insertOrCount(inboxPool(), row);
    if (stored) return stored;
  }
  throw new Error("webhook event neither inserted nor found");
}
