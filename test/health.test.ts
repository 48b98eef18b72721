import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "./support/app.ts";
import { asAdmin } from "./support/db.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());


describe("health and readiness", () => {
  it("answers /healthz while the process lives, with request and trace ids", async () => {
    const res = await t.http().get("/healthz").set("x-request-id", "probe-1");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
    expect(res.headers["x-request-id"]).toBe("probe-1");
    expect(res.headers["x-trace-id"]).toMatch(/^[0-9a-f]{32}$/);
  });

  it("replaces an unsafe or over-long incoming request id, and accepts x-correlation-id", async () => {
    const bad = await t.http().get("/healthz").set("x-request-id", "a b<script>");
    expect(bad.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const long = await t.http().get("/healthz").set("x-request-id", "x".repeat(129));
    expect(long.headers["x-request-id"]).not.toBe("x".repeat(129));
    const corr = await t.http().get("/healthz").set("x-correlation-id", "corr:42");
    expect(corr.headers["x-request-id"]).toBe("corr:42");
  });

  it("is ready when the database answers and every migration is applied", async () => {
    const res = await t.http().get("/readyz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ready" });
  });

  it("is not ready while a migration is missing", async () => {
    const { pool } = await import("../src/db/client.ts");
    const { rows } = await pool().query("SELECT * FROM _prisma_migrations ORDER BY started_at DESC LIMIT 1");
    await pool().query("DELETE FROM _prisma_migrations WHERE id = $1", [rows[0].id]);
    try {
      const res = await t.http().get("/readyz");
      expect(res.status).toBe(503);
      expect(res.body.reason).toContain(rows[0].migration_name);
    } finally {
      const cols = Object.keys(rows[0]);
      await pool().query(
        `INSERT INTO _prisma_migrations (${cols.join(",")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(",")})`,
        cols.map((c) => rows[0][c]),
      );
    }
    expect((await t.http().get("/readyz")).status).toBe(200);
  });

  it("is not ready (503) while the database refuses connections, and ready again after", async () => {
    const name = new URL(t.databaseUrl).pathname.slice(1);
    await asAdmin(async (c) => {
      await c.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);
    });
    try {
      const res = await t.http().get("/readyz");
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: "unavailable", reason: "database unavailable" });
      expect((await t.http().get("/healthz")).status).toBe(200);
    } finally {
      await asAdmin((c) => c.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`));
    }
    expect((await t.http().get("/readyz")).status).toBe(200);
  });
});

describe("bad requests outside GraphQL", () => {
  it("answers malformed JSON to /graphql with a precise 400, not a 500", async () => {
    const res = await t.http().post("/graphql").set({ "content-type": "application/json", authorization: "Bearer x" }).send("{not json");
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).not.toMatch(/stack|at \//);
  });

  it("answers an unknown route with 404 and still carries the request id", async () => {
    const res = await t.http().get("/nope").set("x-request-id", "lost-1");
    expect(res.status).toBe(404);
    expect(res.headers["x-request-id"]).toBe("lost-1");
  });

  it("turns away requests with 503 and Retry-After once the server is draining", async () => {
    const agent = t.http();
    const closing = t.app.close();
    const res = await agent.get("/healthz");
    await closing;
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("5");
    expect(res.body).toEqual({ error: "unavailable" });
  });
});
