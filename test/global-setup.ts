/**
 * Starts one PostgreSQL for the whole run (TEST_DATABASE_URL's server when set, else an embedded
 * one) and migrates a template database. Each test file clones the template (see support/db.ts),
 * so files run in parallel on their own data.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { migrateDatabase } from "../src/db/setup.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of a server database with rights to CREATE DATABASE. */
    adminDatabaseUrl: string;
    /** Name of the migrated template database. */
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject) {
  let adminUrl = process.env["TEST_DATABASE_URL"];
  let stop = async () => {};
  if (!adminUrl) {
    const base = mkdtempSync(join(tmpdir(), "calsync-test-"));
    chmodSync(base, 0o755);
    const embedded = await startEmbeddedPostgres({ dataDir: base, database: "postgres", temporary: true, fast: true });
    adminUrl = embedded.url;
    stop = async () => {
      await embedded.stop();
      rmSync(base, { recursive: true, force: true });
    };
  }
  const template = `calsync_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${template}"`);
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${template}`;
  await migrateDatabase(templateUrl.toString());
  project.provide("adminDatabaseUrl", adminUrl);
  project.provide("templateDatabase", template);
  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE $1",
      [`calsync_test_${process.pid}_%`],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
    await admin.end();
    await stop();
  };
}
