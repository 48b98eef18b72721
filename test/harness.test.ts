import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { createTestDatabase } from "./support/db.ts";

describe("test harness", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db.drop());

  it("runs on Node 24 (the project's own node, not the machine's)", () => {
    expect(process.versions.node.split(".")[0]).toBe("24");
  });

  it("gives each file a migrated database with graphile-worker installed", async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query("SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL");
    const fn = await c.query("SELECT to_regproc('graphile_worker.add_job') IS NOT NULL AS ok");
    await c.end();
    expect(rows[0].n).toBeGreaterThan(0);
    expect(fn.rows[0].ok).toBe(true);
  });
});
