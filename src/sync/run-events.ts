/**
 * "Sync run changed" signals across processes: whoever changes a `sync_runs` row sends
 * `NOTIFY calsync_sync_run, '<run id>'`; each process that has watchers holds one dedicated
 * connection that LISTENs and wakes the watchers of that run. The worker that runs a sync and the
 * API process that streams its progress may be different processes.
 *
 * The listening connection exists only while something watches (the first watcher opens it, the
 * last one closes it). If it drops, it is reopened and every watcher is woken once, since
 * notifications sent meanwhile are lost; watchers re-read the row on each wake, so a wake carries
 * no data and extra wakes are harmless.
 */
import pg from "pg";
import { databaseUrl, db, pool } from "../db/client.ts";
import { log } from "../log.ts";
import type { SyncProgress } from "./engine.ts";

export const SYNC_RUN_CHANNEL = "calsync_sync_run";

const RECONNECT_DELAY_MS = 1_000;

/** Tells every process that the run changed (on its own, or inside the caller's transaction). */
export async function notifyRunChanged(runId: string, tx: { $executeRaw: ReturnType<typeof db>["$executeRaw"] } = db()): Promise<void> {
  await tx.$executeRaw`SELECT pg_notify(${SYNC_RUN_CHANNEL}, ${runId})`;
}

/**
 * Writes a running sync's progress to its ledger row and sends the NOTIFY in the same statement
 * (one round trip instead of an UPDATE and a `pg_notify`; a sync of 10,000 reports 22 times). The
 * statement commits on its own, so watchers woken by the NOTIFY read the new progress, as before.
 * Throws when the run no longer exists, as the update it replaces did.
 */
export async function recordProgress(runId: string, p: SyncProgress): Promise<void> {
  const res = await pool().query({
    text: `WITH run AS (
             UPDATE sync_runs SET fetched = $2, created = $3, updated = $4, unchanged = $5, remote_deleted = $6, progress = $7
              WHERE id = $1::uuid RETURNING id)
           SELECT pg_notify($8, id::text) FROM run`,
    values: [runId, p.fetched, p.created, p.updated, p.unchanged, p.remoteDeleted, p.progress, SYNC_RUN_CHANNEL],
  });
  if (res.rowCount !== 1) throw new Error(`sync run ${runId} no longer exists`);
}

type Wake = () => void;

const watchers = new Map<string, Set<Wake>>();
let client: pg.Client | undefined;
let connecting: Promise<void> | undefined;
let reconnectTimer: NodeJS.Timeout | undefined;

function watcherCount(): number {
  let n = 0;
  for (const set of watchers.values()) n += set.size;
  return n;
}

function wakeAll(): void {
  for (const set of watchers.values()) for (const wake of set) wake();
}

async function connect(): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl() });
  c.on("notification", (msg) => {
    if (msg.channel !== SYNC_RUN_CHANNEL || !msg.payload) return;
    for (const wake of watchers.get(msg.payload) ?? []) wake();
  });
  c.on("error", (err) => {
    log("sync").warn({ err: err.message }, "sync run listener connection lost");
    lost(c);
  });
  c.on("end", () => lost(c));
  await c.connect();
  await c.query(`LISTEN ${SYNC_RUN_CHANNEL}`);
  client = c;
  closeIfIdle(); // every watcher may have left while this connected
}

function closeIfIdle(): void {
  if (watcherCount() > 0 || !client) return;
  const c = client;
  client = undefined;
  void c.end().catch(() => {});
}

function ensureListening(): Promise<void> {
  if (client) return Promise.resolve();
  connecting ??= connect().finally(() => {
    connecting = undefined;
  });
  return connecting;
}

function lost(c: pg.Client): void {
  if (client !== c) return;
  client = undefined;
  void c.end().catch(() => {});
  if (watcherCount() === 0 || reconnectTimer) return;
  reconnectTimer = setTimeout(() => {
    reconnectTimer = undefined;
    if (watcherCount() === 0) return;
    ensureListening().then(wakeAll, (err: Error) => {
      log("sync").warn({ err: err.message }, "sync run listener could not reconnect");
      if (watcherCount() > 0) wakeAll(); // watchers fall back to polling; the next lost() retries
    });
  }, RECONNECT_DELAY_MS);
  reconnectTimer.unref();
}

/**
 * Calls `wake` whenever the run may have changed, from when the returned promise resolves (the
 * LISTEN is in place by then) until the returned function is called.
 */
export async function watchRun(runId: string, wake: Wake): Promise<() => void> {
  let set = watchers.get(runId);
  if (!set) watchers.set(runId, (set = new Set()));
  set.add(wake);
  const unwatch = () => {
    const s = watchers.get(runId);
    s?.delete(wake);
    if (s && s.size === 0) watchers.delete(runId);
    closeIfIdle();
  };
  try {
    await ensureListening();
  } catch (err) {
    unwatch();
    throw err;
  }
  return unwatch;
}

/** Closes the listening connection (process shutdown; also done when the last watcher leaves). */
export async function stopRunEvents(): Promise<void> {
  if (reconnectTimer) clearTimeout(reconnectTimer);
  reconnectTimer = undefined;
  await connecting?.catch(() => {});
  const c = client;
  client = undefined;
  if (watcherCount() > 0) watchers.clear();
  await c?.end().catch(() => {});
}
