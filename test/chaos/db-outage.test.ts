/**
 * PostgreSQL stopped under traffic (issue 13): ingest answers 503, never a 2xx, /readyz is 503;
 * when the database is back both recover without restarting calsync, and the queue drains.
 * The test runs its own embedded PostgreSQL (same port on restart) so it can stop it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { parseEnv, setEnv } from "../../src/config.ts";
import { connectDatabase, disconnectDatabase } from "../../src/db/client.ts";
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.ts";
import { migrateDatabase } from "../../src/db/setup.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "../support/app.ts";
import { createCompany, createService, createWebhookSecret } from "../factories.ts";
import { burst, calsyncEnv, deliveries, eventCounts, startCalsync, until } from "./support.ts";

let dir: string;
let port: number;
let embedded: EmbeddedDatabase | undefined;

const start = async () => (embedded = await startEmbeddedPostgres({ dataDir: dir, database: "calsync", fast: true, port }));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "calsync-outage-"));
  port = await freePort();
  const db = await start();
  await migrateDatabase(db.url);
  setEnv(parseEnv({ DATABASE_URL: db.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(db.url, { max: 2 });
});
afterAll(async () => {
  await disconnectDatabase();
  await embedded?.stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

async function counts(url: string, companyId: string, prefix: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await eventCounts(c, companyId, prefix);
  } finally {
    await c.end();
  }
}

describe("a database outage under traffic", () => {
  it("ingest answers 503 and /readyz 503 while PostgreSQL is down; both recover without a restart and the queue drains", async () => {
    const url = embedded!.url;
    const company = await createCompany();
    const secret = await createWebhookSecret(company.id);
    await createService(company.id, { calcomEventTypeId: 1187, syncStatus: "SYNCED" });
    const app = await startCalsync(["serve"], calsyncEnv(url));
    const all = deliveries(company.id, secret, "outage", 300);
    const [before, during, after] = [all.slice(0, 100), all.slice(100, 200), all.slice(200)];

    expect((await burst(before, { origins: [app.url], concurrency: 8 })).every((o) => o.status === 202)).toBe(true);

    await embedded!.stop();
    embedded = undefined;
    const refused = await burst(during, { origins: [app.url], concurrency: 8 });
    expect(refused.filter((o) => o.status >= 200 && o.status < 300)).toEqual([]);
    expect(refused.map((o) => o.status), app.output().slice(-4000)).toEqual(during.map(() => 503));
    expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);

    await start();
    await until("/readyz to answer 200 again", async () => (await fetch(`${app.url}/readyz`)).status === 200, 60_000, 250);
    // The sender re-sends what was refused, and traffic goes on.
    const resent = await burst([...during, ...after], { origins: [app.url], concurrency: 8 });
    expect(resent.every((o) => o.status === 202)).toBe(true);
    const done = await until("the queue to drain", async () => {
      const c = await counts(url, company.id, "outage-");
      return c.processed === 300 ? c : null;
    }, 40_000, 250).catch((err: Error) => {
      const file = join(tmpdir(), `calsync-outage-${process.pid}.log`);
      writeFileSync(file, app.output());
      throw new Error(`${err.message} (calsync's output: ${file})\n${app.output().slice(-3000)}`);
    });
    expect(done).toEqual({ total: 300, processed: 300, multiApplied: 0, bookings: 300 });
    expect(app.child.exitCode).toBeNull();
  });
});
