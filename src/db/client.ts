/**
 * The process's database handles: one pg pool shared by Prisma (through its pg adapter),
 * graphile-worker and the few raw queries, so a process holds one set of connections.
 */
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.ts";
import { log } from "../log.ts";

export type { PrismaClient };

interface Handles {
  url: string;
  pool: pg.Pool;
  prisma: PrismaClient;
  /** The webhook ingest path's own few connections, made on first use (see inboxPool). */
  inbox?: pg.Pool;
  inboxMax: number;
  /** Every connection of both pools whose socket has not closed yet (see disconnectDatabase). */
  open: Map<pg.PoolClient, Promise<void>>;
}

/** Remembers each connection of the pool until its socket has closed. */
function track(p: pg.Pool, open: Handles["open"]): void {
  p.on("connect", (client) => {
    client.on("error", () => {});
    open.set(client, new Promise<void>((resolve) => client.once("end", () => (open.delete(client), resolve()))));
  });
}

let handles: Handles | undefined;

export interface ConnectOptions {
  /** Pool size (Default: 20). */
  max?: number;
  /** Connections of the webhook ingest pool (Default: 4). */
  inboxMax?: number;
}

export function connectDatabase(url: string, options: ConnectOptions = {}): Handles {
  if (handles) return handles;
  const pgPool = new pg.Pool({ connectionString: url, max: options.max ?? 20, connectionTimeoutMillis: 5_000 });
  // An idle client that dies (server restart) must not crash the process; the next query retries.
  pgPool.on("error", (err) => log("db").warn({ err: err.message }, "idle database connection lost"));
  const open: Handles["open"] = new Map();
  track(pgPool, open);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pgPool) });
  handles = { url, pool: pgPool, prisma, inboxMax: options.inboxMax ?? 4, open };
  return handles;
}

/**
 * The webhook ingest path's own small pool (secrets, routing, the inbox INSERT, the failure
 * counter): however busy GraphQL keeps the main pool, a signed delivery still gets a connection
 * and is committed. Kept small: ingest statements are short.
 */
export function inboxPool(): pg.Pool {
  const h = current();
  if (!h.inbox) {
    h.inbox = new pg.Pool({ connectionString: h.url, max: h.inboxMax, connectionTimeoutMillis: 5_000 });
    h.inbox.on("error", (err) => log("db").warn({ err: err.message }, "idle ingest connection lost"));
    track(h.inbox, h.open);
  }
  return h.inbox;
}

function current(): Handles {
  if (!handles) throw new Error("database not connected: call connectDatabase() first");
  return handles;
}

/** The Prisma client (module singleton; never put it in GraphQL context). */
export function db(): PrismaClient {
  return current().prisma;
}

export function pool(): pg.Pool {
  return current().pool;
}

export function databaseUrl(): string {
  return current().url;
}

/** How long disconnectDatabase waits for connections in use before it closes them. */
const FORCE_CLOSE_AFTER_MS = 1_500;

export async function disconnectDatabase(): Promise<void> {
  const h = handles;
  handles = undefined;
  if (!h) return;
  await h.prisma.$disconnect().catch(() => {});
  // pool.end() waits for checked-out connections. One whose work was abandoned (a job interrupted
  // by shutdown while it waited on a lock) would hold it forever: after a grace, close those
  // connections (the server rolls their transactions back).
  const ended = Promise.all([h.pool.end().catch(() => {}), h.inbox?.end().catch(() => {})]);
  const grace = new Promise<"grace">((r) => setTimeout(() => r("grace"), FORCE_CLOSE_AFTER_MS).unref());
  if ((await Promise.race([ended, grace])) === "grace") {
    log("db").info({ connections: h.open.size }, "closing database connections still in use after the shutdown grace");
    for (const client of h.open.keys()) void (client as unknown as pg.Client).end().catch(() => {});
    await ended;
  }
  // pool.end() resolves once it has asked each connection to close, not once they have: wait
  // (briefly) for the sockets, so a database stopped right after sees no connection of ours and
  // we see no "connection lost" from its shutdown.
  await Promise.race([Promise.all(h.open.values()), new Promise((r) => setTimeout(r, 2_000).unref())]);
}
