import type { FastifyInstance } from "fastify";
import { pool } from "../db/client.ts";
import { appliedMigrations, listMigrations } from "../db/migrations.ts";

const READY_TIMEOUT_MS = 2_000;

/** Why the process cannot serve right now, or null when it can. */
async function notReadyReason(expected: readonly string[]): Promise<string | null> {
  const query = appliedMigrations(pool())
    .then((applied) => {
      const missing = expected.filter((m) => !applied.has(m));
      return missing.length ? `migrations not applied: ${missing.join(", ")}` : null;
    })
    .catch(() => "database unavailable");
  const timeout = new Promise<string>((resolve) => setTimeout(resolve, READY_TIMEOUT_MS, "database did not answer").unref());
  return Promise.race([query, timeout]);
}

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  const expected = await listMigrations();
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const reason = await notReadyReason(expected);
    if (reason) return reply.code(503).send({ status: "unavailable", reason });
    return { status: "ready" };
  });
}
