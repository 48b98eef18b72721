/**
 * What the migrations directory holds and what a database has applied, without the schema engine.
 *
 * The Wasm schema engine (src/db/migrate.ts) costs about 37 MB once loaded and is needed only when
 * something is pending, so start-up asks this module first and loads the engine only then; the
 * server's /readyz uses it too. A migration counts as applied when `_prisma_migrations` records it
 * finished and not rolled back (the same rule `prisma migrate deploy` follows).
 */
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const migrationsDir = join(root, "prisma", "migrations");
export const schemaPath = join(root, "prisma", "schema.prisma");

/** Migration directory names, oldest first. */
export async function listMigrations(): Promise<string[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Names of the migrations the database has finished and not rolled back. Throws when it cannot answer. */
export async function appliedMigrations(client: Pick<pg.Pool, "query">): Promise<Set<string>> {
  const { rows } = await client.query<{ migration_name: string }>(
    "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
  );
  return new Set(rows.map((r) => r.migration_name));
}

/** Migrations still to apply (all of them on an empty database, or when the ledger cannot be read). */
export async function pendingMigrations(client: Pick<pg.Pool, "query">): Promise<string[]> {
  const expected = await listMigrations();
  const applied = await appliedMigrations(client).catch(() => new Set<string>());
  return expected.filter((m) => !applied.has(m));
}
