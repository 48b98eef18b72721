/**
 * The bench's PostgreSQL: BENCH_DATABASE_URL (a server URL whose user may CREATE DATABASE), else the
 * machine's server on 127.0.0.1:5432 if it answers, else an embedded one (temporary, deleted at the
 * end). Each section gets a fresh database, migrated like production, and dropped afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../../src/db/embedded.ts";
import { migrateDatabase } from "../../src/db/setup.ts";

const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX = "calsync_bench_";

export interface BenchServer {
  /** A URL on the server's maintenance database (user may CREATE DATABASE). */
  adminUrl: string;
  /** Where it came from, for the report header. */
  kind: "BENCH_DATABASE_URL" | "local 127.0.0.1:5432" | "embedded";
  stop(): Promise<void>;
}

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500 });
  c.on("error", () => {});
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

export async function benchServer(): Promise<BenchServer> {
  const given = process.env["BENCH_DATABASE_URL"];
  let server: BenchServer;
  if (given) server = { adminUrl: given, kind: "BENCH_DATABASE_URL", stop: async () => {} };
  else if (await answers(LOCAL_URL)) server = { adminUrl: LOCAL_URL, kind: "local 127.0.0.1:5432", stop: async () => {} };
  else {
    const dir = mkdtempSync(join(tmpdir(), "calsync-bench-"));
    const embedded = await startEmbeddedPostgres({ dataDir: dir, database: "postgres", temporary: true });
    server = {
      adminUrl: embedded.url,
      kind: "embedded",
      stop: async () => {
        await embedded.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  await dropAbandoned(server.adminUrl);
  return server;
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  c.on("error", () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Drops bench databases left behind by a bench process that no longer runs (a killed run). */
async function dropAbandoned(adminUrl: string): Promise<void> {
  await admin(adminUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`${PREFIX}%`]);
    for (const { datname } of rows) {
      const pid = Number(/_(\d+)$/.exec(datname)?.[1]);
      if (Number.isSafeInteger(pid) && pid > 0 && !alive(pid)) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  });
}

/** A new database on the server, migrated (our migrations + graphile-worker's schema + ANALYZE). */
export async function freshDatabase(server: BenchServer, label: string): Promise<BenchDatabase> {
  const name = `${PREFIX}${label}_${process.pid}`;
  await admin(server.adminUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.query(`CREATE DATABASE "${name}"`);
  });
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  await migrateDatabase(url.toString());
  return {
    url: url.toString(),
    drop: () => admin(server.adminUrl, async (c) => void (await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}

/** A short-lived pool on a bench database (setup, resets, polling). */
export function benchPool(url: string, max = 4): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max });
  p.on("error", () => {});
  return p;
}

/**
 * Empties the webhook inbox, the bookings and the job queue, then ANALYZEs, so every timed run
 * starts from the same state.
 */
export async function resetInbox(p: pg.Pool, extraTables: string[] = []): Promise<void> {
  await p.query(`TRUNCATE webhook_events, bookings${extraTables.map((t) => `, ${t}`).join("")}`);
  await p.query("DELETE FROM graphile_worker._private_jobs");
  await p.query("DELETE FROM graphile_worker._private_job_queues");
  await p.query("VACUUM ANALYZE graphile_worker._private_jobs");
}
