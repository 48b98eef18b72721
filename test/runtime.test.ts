import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it, vi } from "vitest";
import pg from "pg";
import { parseEnv, setEnv, env } from "../src/config.ts";
import { db } from "../src/db/client.ts";
import { diffMigrationsToSchema, listMigrations } from "../src/db/migrate.ts";
import { migrateDatabase } from "../src/db/setup.ts";
import { boot } from "../src/runtime.ts";
import { serve } from "../src/http/server.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { asAdmin } from "./support/db.ts";

vi.setConfig({ testTimeout: 120_000 });

const dataDir = mkdtempSync(join(tmpdir(), "calsync-runtime-"));
chmodSync(dataDir, 0o755);
const emptyDb = `calsync_empty_${process.pid}`;


afterAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  await asAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${emptyDb}" WITH (FORCE)`));
});

describe("migrations", () => {
  it("bring an empty database to the current schema once, and then have nothing to do", async () => {
    await asAdmin((c) => c.query(`CREATE DATABASE "${emptyDb}"`));
    const url = new URL(inject("adminDatabaseUrl"));
    url.pathname = `/${emptyDb}`;
    const expected = await listMigrations();
    expect(expected.length).toBeGreaterThan(0);
    expect(await migrateDatabase(url.toString())).toEqual(expected);
    expect(await migrateDatabase(url.toString())).toEqual([]);
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    const tables = await c.query<{ t: string }>(
      "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema IN ('public', 'graphile_worker') ORDER BY 1",
    );
    await c.end();
    expect(tables.rows.map((r) => r.t)).toEqual(
      expect.arrayContaining(["public.companies", "public.services", "public.webhook_events", "public.sync_runs", "public.bookings", "graphile_worker._private_jobs"]),
    );
  });
});

describe("schema.prisma and the committed migrations", () => {
  it("agree (a model change without its migration fails here)", async () => {
    const sql = await diffMigrationsToSchema(inject("adminDatabaseUrl"));
    expect(sql.trim()).toBe("-- This is an empty migration.");
  });
});

describe("the embedded default (npm start without DATABASE_URL)", () => {
  it("generates the admin token and secrets key into DATA_DIR once, and keeps data across restarts", async () => {
    setEnv(parseEnv({ DATA_DIR: dataDir, LOG_LEVEL: "silent" }));
    const first = await boot();
    const tokenFile = join(dataDir, "admin-token");
    expect(first.adminTokenHint).toBe(tokenFile);
    expect(new URL(first.databaseUrl).port).not.toBe("5432");
    const token = readFileSync(tokenFile, "utf8").trim();
    expect(env().ADMIN_TOKEN).toBe(token);
    expect(Buffer.from(env().SECRETS_KEY!, "base64")).toHaveLength(32);
    for (const f of ["admin-token", "secrets-key"]) expect(statSync(join(dataDir, f)).mode & 0o777).toBe(0o600);
    await db().company.create({ data: { name: "Survives", slug: "survives" } });
    await first.close();

    setEnv(parseEnv({ DATA_DIR: dataDir, LOG_LEVEL: "silent" }));
    const second = await boot();
    try {
      expect(env().ADMIN_TOKEN).toBe(token);
      expect(await db().company.findUnique({ where: { slug: "survives" } })).not.toBeNull();
    } finally {
      await second.close();
    }
  });
});

describe("serve", () => {
  it("listens, runs the worker, answers, and shuts down cleanly when asked", async () => {
    const url = new URL(inject("adminDatabaseUrl"));
    url.pathname = `/${emptyDb}`;
    setEnv(parseEnv({ DATABASE_URL: url.toString(), ADMIN_TOKEN, SECRETS_KEY, PORT: "0", LOG_LEVEL: "silent" }));
    const exits: number[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const server = await serve({ worker: true, onExit: (code) => exits.push(code), keepTelemetry: true });
    write.mockRestore();
    try {
      expect(server.runner).not.toBeNull();
      const res = await fetch(`${server.url}/readyz`);
      expect(await res.json()).toEqual({ status: "ready" });
    } finally {
      await server.shutdown("test");
    }
    expect(exits).toEqual([0]);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow("fetch failed");
  });
});
