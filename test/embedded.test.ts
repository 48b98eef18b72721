import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";

const dir = mkdtempSync(join(tmpdir(), "calsync-embedded-"));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function query(url: string, sql: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe("embedded PostgreSQL (the zero-config default)", () => {
  it("keeps its data in DATA_DIR across restarts, on a port of its own choosing", async () => {
    const first = await startEmbeddedPostgres({ dataDir: dir, fast: true });
    expect(new URL(first.url).port).not.toBe("5432");
    await query(first.url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");
    await first.stop();

    const second = await startEmbeddedPostgres({ dataDir: dir, fast: true });
    try {
      expect(await query(second.url, "SELECT v FROM kept")).toEqual([{ v: "still here" }]);
    } finally {
      await second.stop();
    }
  });

  it("leaves the process's signal and exit handling to calsync", async () => {
    const events = ["SIGINT", "SIGTERM", "beforeExit", "message", "exit"] as const;
    const count = () => events.map((e) => process.listenerCount(e));
    const before = count();
    const db = await startEmbeddedPostgres({ dataDir: join(dir, "second"), fast: true, temporary: true });
    await db.stop();
    // The library's exit hook would otherwise exit(143) mid-shutdown, or exit(0) over a failure.
    expect(count()).toEqual(before);
  });
});
