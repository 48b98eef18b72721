import { runMigrations } from "graphile-worker";
import pg from "pg";
import { pendingMigrations } from "./migrations.ts";

/**
 * Brings a database to the current schema: our Prisma migrations, then graphile-worker's own
 * schema (its `add_job` SQL function is called inside our transactions), then an ANALYZE so the
 * planner has statistics for a fresh job queue from the first request on.
 *
 * The schema engine is loaded only when a migration is pending: a restart of an up-to-date
 * process never holds it in memory.
 */
export async function migrateDatabase(url: string): Promise<string[]> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle client's error surfaces again on the next query; graphile-worker wants both handlers.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  try {
    let applied: string[] = [];
    if ((await pendingMigrations(pool)).length) {
      const { applyMigrations } = await import("./migrate.ts");
      applied = await applyMigrations(url);
    }
    await runMigrations({ pgPool: pool });
    if (applied.length) await pool.query("ANALYZE");
    return applied;
  } finally {
    await pool.end();
  }
}
