/**
 * An API process killed with SIGKILL in the middle of a burst (issue 13): a 202 always means
 * committed, a delivery cut off got no 2xx, and re-sending the cut-off ones stores each once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { decodeGlobalID } from "@pothos/plugin-relay";
import { parseEnv, setEnv } from "../../src/config.ts";
import { connectDatabase, disconnectDatabase } from "../../src/db/client.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "../support/app.ts";
import { createTestDatabase } from "../support/db.ts";
import { createCompany, createService, createWebhookSecret } from "../factories.ts";
import { burst, calsyncEnv, deliveries, eventCounts, kill, startCalsync, until } from "./support.ts";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let client: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(database.url, { max: 3 });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await disconnectDatabase();
  await database.drop();
});

describe("an API process killed with SIGKILL during a burst", () => {
  it("every 202 is in the database, the cut-off deliveries got no 2xx, and re-sent they are stored and processed once", async () => {
    const company = await createCompany();
    const secret = await createWebhookSecret(company.id);
    await createService(company.id, { calcomEventTypeId: 1187, syncStatus: "SYNCED" });
    const env = calsyncEnv(database.url);
    const [api, worker] = await Promise.all([startCalsync(["serve", "--no-worker"], env), startCalsync(["worker"], env)]);
    const list = deliveries(company.id, secret, "apikill", 1_000);
    let killing: Promise<void> | undefined;
    const outcomes = await burst(list, {
      origins: [api.url],
      concurrency: 32,
      onProgress: (n) => {
        if (n === 300) killing = kill(api);
      },
    });
    await killing;

    const accepted = outcomes.filter((o) => o.status === 202);
    const cut = outcomes.filter((o) => o.status !== 202);
    expect(accepted.length).toBeGreaterThanOrEqual(300);
    expect(cut.length).toBeGreaterThan(0);
    // Cut off means no answer at all (or a 503 while closing): never a 2xx.
    for (const o of cut) expect([0, 503]).toContain(o.status);
    const ids = accepted.map((o) => (/^[0-9a-f-]{36}$/.test(o.id!) ? o.id! : decodeGlobalID(o.id!).id));
    const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_events WHERE id = ANY($1::uuid[])", [ids]);
    expect(rows[0]!.n).toBe(accepted.length);

    // The sender tries the cut-off ones again, at a new API process: each stored once.
    const api2 = await startCalsync(["serve", "--no-worker"], env);
    const again = await burst(cut.map((o) => o.delivery), { origins: [api2.url], concurrency: 16 });
    expect(again.every((o) => o.status === 202)).toBe(true);
    const done = await until("every event PROCESSED", async () => {
      const c = await eventCounts(client, company.id, "apikill-");
      return c.processed === 1_000 ? c : null;
    }, 120_000, 250);
    expect(done).toEqual({ total: 1_000, processed: 1_000, multiApplied: 0, bookings: 1_000 });
    await kill(worker);
  });
});
