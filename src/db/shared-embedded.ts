/**
 * Sharing one embedded PostgreSQL between the processes that use the same DATA_DIR.
 *
 * PostgreSQL lets one postmaster own a data directory (`postmaster.pid`), so a second calsync
 * process on the same DATA_DIR (a CLI command beside `npm start`, a `calsync worker` beside
 * `calsync serve`) cannot start its own. Instead, the process that starts the embedded database
 * publishes where it listens, with its credentials, in `DATA_DIR/embedded-db.json` (mode 0600:
 * only the owner of the data directory may read it), and removes the file when it stops it.
 * Other processes connect to that database and never stop it.
 *
 * Invariants:
 * - The file names the owning process's pid; a file whose owner is gone is stale and is removed
 *   (the owner's exit hook stopped its postmaster, or PostgreSQL itself recovers on next start).
 * - A process attaches only after a `SELECT 1` answered on the published URL.
 * - When the data directory is locked but nobody published an address (a process of an older
 *   calsync, or a postmaster started by hand), the caller gets an error that says what to do.
 */
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";

export const SHARED_FILE = "embedded-db.json";

export interface SharedDatabase {
  /** postgres:// URL with credentials, on 127.0.0.1. */
  url: string;
  /** The calsync process that started the database (and will stop it). */
  pid: number;
  /** That database's postmaster (records written before it was added have none). */
  postmasterPid?: number | null;
  startedAt: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Records the database this process started (0600). */
export function publishSharedDatabase(dataDir: string, url: string, postmasterPid: number | null = null): void {
  const path = join(dataDir, SHARED_FILE);
  const record: SharedDatabase = { url, pid: process.pid, postmasterPid, startedAt: new Date().toISOString() };
  writeFileSync(path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** Removes the record, if it is still this process's. */
export function withdrawSharedDatabase(dataDir: string): void {
  const path = join(dataDir, SHARED_FILE);
  try {
    const record = JSON.parse(readFileSync(path, "utf8")) as SharedDatabase;
    if (record.pid === process.pid) rmSync(path, { force: true });
  } catch {
    /* gone already */
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The running embedded database another calsync process published for this DATA_DIR, or null
 * when there is none (a stale record is removed).
 */
export async function findSharedDatabase(dataDir: string): Promise<SharedDatabase | null> {
  const path = join(dataDir, SHARED_FILE);
  if (!existsSync(path)) return null;
  let record: SharedDatabase;
  try {
    record = JSON.parse(readFileSync(path, "utf8")) as SharedDatabase;
  } catch {
    rmSync(path, { force: true });
    return null;
  }
  if (record.pid === process.pid) return null;
  if (!alive(record.pid) || !(await answers(record.url))) {
    // A dead owner's record stays while its postmaster runs: it is what lets the next start
    // recognise that postmaster as an orphan of calsync and reclaim it (orphanedPostmaster).
    if (!alive(record.pid) && runningPostmaster(join(dataDir, "pg")) === null) rmSync(path, { force: true });
    return null;
  }
  return record;
}

/**
 * The postmaster running on this DATA_DIR that a calsync process started and died without
 * stopping (SIGKILL, where no parent-death signal reached it): the published record names a dead
 * owner and this very postmaster. Null for anything else (a live owner, a postgres started by
 * hand, a record from before postmaster pids were published).
 */
export function orphanedPostmaster(dataDir: string): number | null {
  const holder = runningPostmaster(join(dataDir, "pg"));
  if (holder === null) return null;
  try {
    const record = JSON.parse(readFileSync(join(dataDir, SHARED_FILE), "utf8")) as SharedDatabase;
    return !alive(record.pid) && record.postmasterPid === holder ? holder : null;
  } catch {
    return null;
  }
}

/** Removes the record of a dead owner (after its orphan was stopped). */
export function removeStaleRecord(dataDir: string): void {
  rmSync(join(dataDir, SHARED_FILE), { force: true });
}

/**
 * Stops a postmaster that is not our child, as embedded.ts stops its own: SIGINT (fast), then
 * SIGQUIT (immediate), then SIGKILL to its process group. A process that is not our child gives
 * no exit event, so this polls; resolves true once it is gone.
 */
export async function stopOrphan(pid: number, fastMs: number, immediateMs: number): Promise<boolean> {
  const gone = async (ms: number) => {
    for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      if (!alive(pid)) return true;
    }
    return !alive(pid);
  };
  const send = (target: number, sig: NodeJS.Signals) => {
    try {
      process.kill(target, sig);
    } catch {
      /* gone */
    }
  };
  send(pid, "SIGINT");
  if (await gone(fastMs)) return true;
  send(pid, "SIGQUIT");
  if (await gone(immediateMs)) return true;
  send(-pid, "SIGKILL");
  return gone(immediateMs);
}

/** The pid in `postmaster.pid` when a postmaster still runs on this data directory. */
export function runningPostmaster(databaseDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(databaseDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
  } catch {
    return null;
  }
}
