/**
 * Applies the Prisma migrations in `prisma/migrations` in-process.
 *
 * Why not `prisma migrate deploy`: the Prisma 7 CLI downloads a native schema engine on every
 * command, and this deployment target has no route to that host. The same engine ships on npm as
 * WebAssembly (`@prisma/schema-engine-wasm`); it writes the usual `_prisma_migrations` ledger, so
 * the CLI and this module agree about what is applied.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { parse as parseUrl } from "pg-connection-string";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from "@prisma/driver-adapter-utils";
import type { SqlResultSet } from "@prisma/driver-adapter-utils";

// Node 24 flags importing a .wasm module as experimental; that one warning is noise for operators.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: never[]) => {
  if (String(warning).includes("Importing WebAssembly module")) return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;
const { SchemaEngine } = await import("@prisma/schema-engine-wasm");
type SchemaEngine = Awaited<ReturnType<typeof SchemaEngine.new>>;

import { listMigrations, migrationsDir, schemaPath } from "./migrations.ts";

export { listMigrations, migrationsDir, schemaPath };

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;
/** Result rows whose `"char"` columns were rewritten to text, by row array. */
const charColumns = new WeakMap<object, number[]>();

/**
 * adapter-pg cannot deserialise PostgreSQL's internal `"char"` type, which the engine's catalogue
 * queries return. This client reports such columns as text and remembers where they were.
 */
class CharClient extends pg.Client {
  // oxlint-disable-next-line typescript/no-explicit-any -- pg's query() has a dozen overloads
  override query(...args: any[]): any {
    const fix = (r: pg.QueryResult | undefined) => {
      const indexes: number[] = [];
      r?.fields?.forEach((f, i) => {
        if (f.dataTypeID === PG_CHAR_OID) {
          f.dataTypeID = PG_TEXT_OID;
          indexes.push(i);
        }
      });
      if (r && indexes.length) charColumns.set(r.rows, indexes);
      return r;
    };
    const cbIndex = args.findIndex((a) => typeof a === "function");
    if (cbIndex >= 0) {
      const cb = args[cbIndex] as (e: Error | null, r?: pg.QueryResult) => void;
      args[cbIndex] = (e: Error | null, r?: pg.QueryResult) => cb(e, e ? r : fix(r));
    }
    // oxlint-disable-next-line typescript/no-explicit-any
    const result = (super.query as any)(...args);
    return result?.then ? result.then(fix) : result;
  }
}

type Queryable = { queryRaw: (q: never) => Promise<SqlResultSet> };
type Adapter = Queryable & { startTransaction: (...a: never[]) => Promise<Queryable> };

function reportCharColumns(rs: SqlResultSet): SqlResultSet {
  for (const i of charColumns.get(rs.rows) ?? []) rs.columnTypes[i] = ColumnTypeEnum.Character;
  return rs;
}

function patchQueryable<T extends Queryable>(q: T): T {
  const queryRaw = q.queryRaw.bind(q);
  q.queryRaw = (async (query: never) => reportCharColumns(await queryRaw(query))) as T["queryRaw"];
  return q;
}

/** Applies the `"char"` fix to an adapter and to every transaction it starts. */
function patchAdapter<T extends Adapter>(adapter: T): T {
  patchQueryable(adapter);
  const start = adapter.startTransaction.bind(adapter);
  adapter.startTransaction = (async (...a: never[]) => patchQueryable(await start(...a))) as T["startTransaction"];
  return adapter;
}

function poolFor(url: string, database?: string): pg.Pool {
  const cfg = parseUrl(url);
  return new pg.Pool({
    host: cfg.host ?? undefined,
    port: cfg.port ? Number(cfg.port) : undefined,
    user: cfg.user ?? undefined,
    password: cfg.password ?? undefined,
    database: database ?? cfg.database ?? undefined,
    Client: CharClient,
    max: 2,
  });
}

async function withAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const cfg = parseUrl(url);
  const client = new pg.Client({
    host: cfg.host ?? undefined,
    port: cfg.port ? Number(cfg.port) : undefined,
    user: cfg.user ?? undefined,
    password: cfg.password ?? undefined,
    database: "postgres",
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function adapterFactory(url: string, pool: pg.Pool) {
  const base = new PrismaPg(pool);
  return bindMigrationAwareSqlAdapterFactory({
    provider: "postgres",
    adapterName: base.adapterName,
    connect: async () => patchAdapter(await base.connect()),
    async connectToShadowDb() {
      // adapter-pg's own shadow database ignores `database` for URL configs and drops the
      // database before closing its pool; create and drop ours explicitly instead.
      const name = `calsync_shadow_${crypto.randomUUID().replaceAll("-", "")}`;
      await withAdmin(url, (c) => c.query(`CREATE DATABASE "${name}"`));
      const adapter = patchAdapter(
        await new PrismaPg(poolFor(url, name), { disposeExternalPool: true }).connect(),
      );
      const dispose = adapter.dispose.bind(adapter);
      adapter.dispose = async () => {
        await dispose();
        await withAdmin(url, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
      };
      return adapter;
    },
  });
}

async function migrationList() {
  const names = await listMigrations();
  const lockPath = join(migrationsDir, "migration_lock.toml");
  return {
    baseDir: migrationsDir,
    lockfile: { path: lockPath, content: await readFile(lockPath, "utf8").catch(() => null) },
    shadowDbInitScript: "",
    migrationDirectories: await Promise.all(
      names.map(async (name) => {
        const path = join(migrationsDir, name, "migration.sql");
        return {
          // The engine records `path` as the migration's name in _prisma_migrations.
          path: name,
          migrationFile: {
            path,
            content: { tag: "ok" as const, value: await readFile(path, "utf8") },
          },
        };
      }),
    ),
  };
}

const filters = { externalTables: [], externalEnums: [] };

async function withEngine<T>(url: string, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const datamodel = await readFile(schemaPath, "utf8");
  const pool = poolFor(url);
  const engine = await SchemaEngine.new({ datamodels: [[schemaPath, datamodel]] }, () => {}, adapterFactory(url, pool));
  try {
    return await fn(engine);
  } finally {
    engine.free();
    await pool.end();
  }
}

/** Applies every pending migration; returns the names it applied. */
export async function applyMigrations(url: string): Promise<string[]> {
  const migrationsList = await migrationList();
  return withEngine(url, async (engine) => {
    const out = await engine.applyMigrations({ migrationsList, filters });
    return out.appliedMigrationNames;
  });
}

/** The SQL that takes the migrations' end state to `schema.prisma` (empty when they agree). */
export async function diffMigrationsToSchema(url: string): Promise<string> {
  const migrationsList = await migrationList();
  const datamodel = await readFile(schemaPath, "utf8");
  return withEngine(url, async (engine) => {
    const out = await engine.diff({
      from: { tag: "migrations", ...migrationsList },
      to: { tag: "schemaDatamodel", files: [{ path: schemaPath, content: datamodel }] },
      script: true,
      exitCode: null,
      filters,
    });
    return out.stdout ?? "";
  });
}
