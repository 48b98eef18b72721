import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import pg from "pg";
import { createTestDatabase } from "./support/db.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { parseEnv, setEnv } from "../src/config.ts";
import { connectDatabase, db, disconnectDatabase } from "../src/db/client.ts";
import { signBody } from "../src/calcom/signature.ts";
import { bookingCreated } from "./fixtures/webhooks.ts";
import { createCompany, createWebhookSecret } from "./factories.ts";
import { eventIdOf, scopedPath } from "./support/webhooks.ts";

// These tests start real calsync processes (tsx compiles the app first): slow on a busy 2-core CI.
vi.setConfig({ testTimeout: 120_000 });

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
  setEnv(parseEnv({ DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent" }));
  connectDatabase(database.url, { max: 3 });
});
afterAll(async () => {
  await disconnectDatabase();
  await database.drop();
});

// A test that fails half-way must not leave its server running.
const children = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

/** Waits until some statement of this database is waiting on a lock. */
async function untilBlockedOnLock(client: pg.Client): Promise<void> {
  for (;;) {
    const { rows } = await client.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
    );
    if (rows[0].n > 0) return;
    await new Promise((r) => setImmediate(r));
  }
}

/** Starts `calsync serve` as a real process on a free port; resolves once it prints its URL. */
async function startServer(): Promise<{ child: ChildProcessWithoutNullStreams; url: string; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", "./otel/register.ts", "src/cli.ts", "serve"], {
    env: { ...process.env, DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, PORT: "0", LOG_LEVEL: "info" },
  });
  children.add(child);
  let out = "";
  child.stderr.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /GraphiQL:\s+(http:\/\/\S+)\/graphql/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`server exited early (${code}): ${out}`)));
  });
  return { child, url, output: () => out };
}

describe("graceful shutdown", () => {
  it("on SIGTERM stops accepting, finishes the in-flight request, and exits 0 well within 10 s", async () => {
    const { child, url, output } = await startServer();
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE companies IN ACCESS EXCLUSIVE MODE");

    // This request blocks on the lock: it is in flight when the signal arrives.
    const inFlight = fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ query: "{ companies { totalCount } }" }),
    });
    await untilBlockedOnLock(locker);

    const exited = once(child, "exit");
    const signalledAt = Date.now();
    child.kill("SIGTERM");
    while (!output().includes('"shutting down"')) await once(child.stdout, "data");
    await expect(fetch(`${url}/healthz`)).rejects.toThrow("fetch failed");

    await locker.query("COMMIT");
    await locker.end();
    const res = await inFlight.catch((err: Error) => {
      throw new Error(`in-flight request failed: ${err.message}\n${output()}`);
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { companies: { totalCount: 0 } } });
    const [code] = await exited;
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
  });

  it("on SIGTERM lets a running job finish its work before exiting", async () => {
    const company = await createCompany();
    const secret = await createWebhookSecret(company.id);
    const { child, url, output } = await startServer();
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE bookings IN ACCESS EXCLUSIVE MODE");

    // The delivery is accepted (the inbox does not touch bookings); its job then blocks on the lock.
    const body = JSON.stringify(bookingCreated({ uid: "shutdown-job-1" }));
    const res = await fetch(`${url}${scopedPath(company.id)}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-cal-signature-256": signBody(secret, body) },
      body,
    });
    expect(res.status).toBe(202);
    const id = eventIdOf({ body: await res.json() });
    await untilBlockedOnLock(locker);

    const exited = once(child, "exit");
    child.kill("SIGTERM");
    while (!output().includes('"shutting down"')) await once(child.stdout, "data");
    await locker.query("COMMIT");
    await locker.end();

    const [code] = await exited;
    expect(code).toBe(0);
    expect(await db().webhookEvent.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: "PROCESSED" });
    expect(await db().booking.findFirst({ where: { uid: "shutdown-job-1" } })).not.toBeNull();
  });
});
