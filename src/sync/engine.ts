/**
 * The full sync of one company: list every Cal.com event type (the API has no pagination and no
 * change filter, so a sync is always the whole listing compared with what we hold), then apply it
 * to `services`.
 *
 * Transaction strategy: the listing is fetched first, outside any transaction; then the whole
 * apply (safety-valve check, every upsert chunk, the REMOTE_DELETED step) runs in ONE database
 * transaction. A run that fails anywhere (Cal.com error, valve, database error, crash) therefore
 * leaves the catalogue exactly as it was; one that commits has applied one complete listing.
 *
 * Comparison: the transaction first reads what it needs of the linked services (id, event type
 * id, content hash, status: a few dozen bytes each, never their content), so unchanged event types
 * are not even sent to the database (no write, no row lock). Changed and new ones go out in chunks
 * of a few hundred rows per statement, whose WHERE repeats the comparison in SQL in case a
 * `sync_service` refresh wrote the row meanwhile.
 *
 * Progress (0 → 1): 0.1 once the listing is in, then up to 0.95 as chunks apply, 1 when the ledger
 * marks the run finished. The counts reported on the way describe work inside the open
 * transaction; the ledger's final counts are what committed.
 */
import { trace } from "@opentelemetry/api";
import type { CalcomClient } from "../calcom/client.ts";
import type { CalcomEventType } from "../calcom/event-types.ts";
import { pool } from "../db/client.ts";
import { log } from "../log.ts";
import { CHUNK_SIZE, isLive, loadLinked, markRemoteDeleted, needsWrite, upsertServices, type UpsertCounts } from "./apply.ts";
import { invalidateListing } from "./listing-cache.ts";
import { syncEventTypesHeld, syncEventTypesSkipped } from "../metrics.ts";
import { orphanClaims } from "../orphans/claims.ts";
import { textSafe } from "../webhooks/safe-json.ts";
import { project, unstorable, type ServiceProjection } from "./normalise.ts";

export interface SyncCounts {
  fetched: number;
  created: number;
  updated: number;
  unchanged: number;
  remoteDeleted: number;
}

export interface SyncProgress extends SyncCounts {
  /** 0..1 */
  progress: number;
}

/** An event type of the listing the sync could not store, and why (no values beyond id and title). */
export interface SyncSkip {
  calcomEventTypeId: number | null;
  title: string | null;
  reason: string;
}

/** Skips kept on a run (the count is always complete). */
export const MAX_SKIPS_KEPT = 100;

/** An unlinked event type held back for an orphan that may be the same offer (orphans/claims.ts). */
export interface SyncHold {
  calcomEventTypeId: number;
  title: string;
  /** The orphan that wants it most, and its score (0 when the pairs were too many to score). */
  serviceId: string;
  score: number;
}

export interface SyncResult extends SyncCounts {
  /** Upsert statements run (one per chunk). */
  chunks: number;
  /** Event types skipped (malformed, or values their columns cannot hold). */
  skipped: number;
  skips: SyncSkip[];
  /** Unlinked event types not imported because an orphan may be the same offer (orphans/claims.ts). */
  heldForLinking: number;
  holds: SyncHold[];
}

export interface SyncOptions {
  companyId: string;
  client: CalcomClient;
  /** Mark more than half of the linked services REMOTE_DELETED if the listing says so. */
  force?: boolean;
  /** Rows per upsert statement (Default: CHUNK_SIZE). */
  chunkSize?: number;
  /** Awaited after the listing and after each chunk. */
  onProgress?: (p: SyncProgress) => Promise<void> | void;
}

/** The safety valve refused to mark most of the catalogue REMOTE_DELETED; nothing was changed. */
export class TooManyRemoteDeletions extends Error {
  override name = "TooManyRemoteDeletions";
  readonly missing: number;
  readonly linked: number;

  constructor(missing: number, linked: number) {
    super(
      `refused to mark ${missing} of ${linked} Cal.com-linked services REMOTE_DELETED in one run (more than half); ` +
        "nothing was changed. If the event types really were deleted, run the sync with force.",
    );
    this.missing = missing;
    this.linked = linked;
  }
}

const LISTED = 0.1;
const APPLIED = 0.95;

export async function syncCatalogue(options: SyncOptions): Promise<SyncResult> {
  const { companyId } = options;
  const chunkSize = Math.max(1, options.chunkSize ?? CHUNK_SIZE);
  const span = trace.getActiveSpan();

  // Each event type is checked on its own: one that is malformed, or holds a value its column
  // cannot (a 64-bit length or price, a NUL), is skipped with its reason and the rest is synced.
  const checked = await options.client.listEventTypesChecked();
  invalidateListing(companyId);
  // Titles go into jsonb on the run: made safe (a NUL title is one reason to skip).
  const skips: SyncSkip[] = checked.invalid.map((i) => ({ calcomEventTypeId: i.id, title: i.title === null ? null : textSafe(i.title, 200), reason: i.reason }));
  // Cal.com ids are unique, but one statement cannot touch a row twice: keep the last of any repeat
  // (in the place of the first, as before). Projected (and hashed) later, a chunk at a time.
  const byId = new Map<number, CalcomEventType>();
  for (const et of checked.eventTypes) {
    const why = unstorable(et);
    if (why) skips.push({ calcomEventTypeId: et.id, title: textSafe(et.title, 200), reason: why });
    else byId.set(et.id, et);
  }
  checked.eventTypes.length = 0;
  const listed = [...byId.values()];
  byId.clear();
  // A skipped event type still exists on Cal.com: its service is not REMOTE_DELETED.
  const skippedIds = skips.flatMap((k) => (k.calcomEventTypeId === null ? [] : [k.calcomEventTypeId]));
  for (const skip of skips) syncEventTypesSkipped.add(1, { reason: skip.reason.startsWith("id ") || /outside|fit/.test(skip.reason) ? "out_of_range" : /NUL|surrogate|nested/.test(skip.reason) ? "unstorable_text" : "invalid" });
  if (skips.length > 0) {
    log("sync").warn({ companyId, skipped: skips.length, eventTypeIds: skippedIds.slice(0, 20) }, "event types skipped: they cannot be stored");
    span?.setAttribute("calsync.sync.skipped", skips.length);
  }
  const counts: SyncCounts = { fetched: listed.length, created: 0, updated: 0, unchanged: 0, remoteDeleted: 0 };
  span?.setAttribute("calsync.sync.fetched", listed.length);
  await options.onProgress?.({ ...counts, progress: LISTED });

  const holds: SyncHold[] = [];
  const conn = await pool().connect();
  let chunks = 0;
  let broken = false;
  try {
    await conn.query("BEGIN");
    const held = await loadLinked(conn, companyId);
    const present = new Set(skippedIds);
    for (const et of listed) present.add(et.id);
    const live = [...held.values()].filter(isLive);
    const gone = live.filter((s) => !present.has(s.eventTypeId)).map((s) => s.id);
    present.clear();
    // The valve looks before anything is written, so a refused run changes nothing.
    if (gone.length > live.length / 2 && !options.force) throw new TooManyRemoteDeletions(gone.length, live.length);
    // New event types an orphan may be the same offer as wait for a person instead of becoming
    // duplicates of it (orphans/claims.ts); read in this transaction, beside the links.
    const unlinked = listed.filter((et) => !held.has(et.id));
    const claims = await orphanClaims(
      conn,
      companyId,
      unlinked.map((et) => ({ id: et.id, title: et.title, slug: et.slug, lengthInMinutes: et.lengthInMinutes })),
    );
    for (const et of unlinked) {
      const claim = claims.get(et.id);
      if (claim) holds.push({ calcomEventTypeId: et.id, title: textSafe(et.title, 200), serviceId: claim.serviceId, score: claim.score });
    }

    // Pipelined: while PostgreSQL applies one chunk, this process projects, hashes and serialises
    // the next (pg queues it on the connection, so it starts the moment the previous one ends).
    // At most two chunks are outstanding; their results are taken in order. A failing chunk
    // fails the next one too (the transaction is aborted) and the run rolls back as before.
    let inFlight: { result: Promise<UpsertCounts>; done: number } | undefined;
    const settle = async () => {
      if (!inFlight) return;
      const { result, done } = inFlight;
      inFlight = undefined;
      const chunk = await result;
      chunks++;
      counts.created += chunk.created;
      counts.updated += chunk.updated;
      counts.unchanged += chunk.unchanged;
      await options.onProgress?.({ ...counts, progress: LISTED + (APPLIED - LISTED) * done });
    };
    const send = async (batch: ServiceProjection[], done: number) => {
      const result = upsertServices(conn, companyId, batch);
      result.catch(() => {}); // awaited in settle(); this only keeps it from counting as unhandled meanwhile
      await settle();
      inFlight = { result, done };
    };
    let batch: ServiceProjection[] = [];
    for (let i = 0; i < listed.length; i++) {
      const et = listed[i]!;
      // Let go of each event type once projected: a smaller live heap for the collector to walk.
      (listed as (CalcomEventType | undefined)[])[i] = undefined;
      if (claims.has(et.id)) continue; // held for linking: neither written nor unchanged
      const row = project(et);
      if (!needsWrite(held.get(row.eventTypeId), row)) {
        counts.unchanged++;
        continue;
      }
      batch.push(row);
      if (batch.length === chunkSize) {
        await send(batch, (i + 1) / listed.length);
        batch = [];
      }
    }
    if (batch.length > 0) await send(batch, 1);
    await settle();
    held.clear();
    // Last, after the complete listing is applied, and in the same transaction.
    counts.remoteDeleted = await markRemoteDeleted(conn, gone);
    await conn.query("COMMIT");
  } catch (err) {
    await conn.query("ROLLBACK").catch(() => {
      broken = true; // a connection that cannot roll back is not given back to the pool
    });
    throw err;
  } finally {
    conn.release(broken);
  }
  span?.setAttributes({
    "calsync.sync.created": counts.created,
    "calsync.sync.updated": counts.updated,
    "calsync.sync.unchanged": counts.unchanged,
    "calsync.sync.remote_deleted": counts.remoteDeleted,
  });
  if (holds.length > 0) {
    syncEventTypesHeld.add(holds.length);
    span?.setAttribute("calsync.sync.held_for_linking", holds.length);
  }
  log("sync").info({ companyId, ...counts, heldForLinking: holds.length, chunks }, "catalogue applied");
  return {
    ...counts,
    chunks,
    skipped: skips.length,
    skips: skips.slice(0, MAX_SKIPS_KEPT),
    heldForLinking: holds.length,
    holds: holds.slice(0, MAX_SKIPS_KEPT),
  };
}
