/**
 * GET /dashboard: the monitoring page. A static page that asks for a bearer token and reads the
 * same GraphQL API as any frontend, so it shows exactly what that token may see.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";

const html = readFileSync(new URL("./dashboard.html", import.meta.url), "utf8");

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  app.get("/dashboard", async (_req, reply) =>
    reply
      .type("text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .header("content-security-policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
      .send(html),
  );
}
