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
  pgPool.on("connect", (client) => client.on("error", () => {}));
  const prisma = new PrismaClient({ adapter: new PrismaPg(pgPool) });
  handles = { url, pool: pgPool, prisma, inboxMax: options.inboxMax ?? 4 };
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
    h.inbox.on("connect", (client) => client.on("error", () => {}));
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

export async function disconnectDatabase(): Promise<void> {
  const h = handles;
  handles = undefined;
  if (!h) return;
  await h.prisma.$disconnect().catch(() => {});
  await h.pool.end().catch(() => {});
  await h.inbox?.end().catch(() => {});
}
