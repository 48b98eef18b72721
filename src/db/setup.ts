import { runMigrations } from "graphile-worker";
import pg from "pg";
import { applyMigrations } from "./migrate.ts";

/**
 * Brings a database to the current schema: our Prisma migrations, then graphile-worker's own
 * schema (its `add_job` SQL function is called inside our transactions), then an ANALYZE so the
 * planner has statistics for a fresh job queue from the first request on.
 */
export async function migrateDatabase(url: string): Promise<string[]> {
  const applied = await applyMigrations(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle client's error surfaces again on the next query; graphile-worker wants both handlers.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  try {
    await runMigrations({ pgPool: pool });
    if (applied.length) await pool.query("ANALYZE");
  } finally {
    await pool.end();
  }
  return applied;
}
