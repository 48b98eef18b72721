/**
 * Writes a new migration: the SQL that takes the existing migrations to `prisma/schema.prisma`.
 * Usage: DATABASE_URL=postgres://… npm run migration:create -- <name>
 * The URL names a server where a throw-away shadow database may be created.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { diffMigrationsToSchema, migrationsDir } from "../src/db/migrate.ts";

const name = process.argv[2];
const url = process.env["DATABASE_URL"];
if (!name || !/^[a-z0-9_]+$/.test(name) || !url) {
  console.error("usage: DATABASE_URL=postgres://… npm run migration:create -- <snake_case_name>");
  process.exit(2);
}
const sql = await diffMigrationsToSchema(url);
if (!sql.trim() || sql.trim().startsWith("-- This is an empty migration")) {
  console.log("schema.prisma and the migrations agree; nothing to write");
  process.exit(0);
}
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const dir = join(migrationsDir, `${stamp}_${name}`);
await mkdir(dir, { recursive: true });
await writeFile(join(dir, "migration.sql"), sql);
console.log(`wrote ${dir}/migration.sql`);
process.exit(0);
