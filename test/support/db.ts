import { inject } from "vitest";
import pg from "pg";

let counter = 0;

/** Runs `fn` on a client connected to the test server's admin database (rights to CREATE DATABASE). */
export async function asAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: inject("adminDatabaseUrl") });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * A fresh database cloned from the migrated template: the schema, graphile-worker's schema, and
 * no rows. Returns its URL and a function that drops it.
 */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const template = inject("templateDatabase");
  const name = `calsync_test_${template.split("_").pop()}_${process.pid}_${++counter}`;
  await asAdmin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = new URL(inject("adminDatabaseUrl"));
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => void (await asAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))),
  };
}
