/**
 * GET /dashboard: the operator's console. A static single-page app (src/http/dashboard/) that
 * asks for a bearer token and reads the same GraphQL API as any frontend, so it shows exactly
 * what that token may see.
 *
 * Every asset is a file served from here: no CDN, no inline script or style (so a strict
 * Content-Security-Policy holds), and the files are small enough to need no build step.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { env } from "../config.ts";

const read = (file: string) => readFileSync(new URL(`./dashboard/${file}`, import.meta.url));

const ASSETS: Record<string, { type: string; body: Buffer }> = {
  "app.js": { type: "text/javascript; charset=utf-8", body: read("app.js") },
  "queries.js": { type: "text/javascript; charset=utf-8", body: read("queries.js") },
  "style.css": { type: "text/css; charset=utf-8", body: read("style.css") },
  "favicon.svg": { type: "image/svg+xml", body: read("favicon.svg") },
};

const escapeAttribute = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The policy this page needs and no more (the security headers of the app may tighten it further). */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  // TRACE_UI_URL is read per request from the configuration, so tests may change it.
  const page = () => read("index.html").toString("utf8").replace("__TRACE_UI_URL__", escapeAttribute(env().TRACE_UI_URL ?? ""));

  app.get("/dashboard", async (_req, reply) =>
    reply.type("text/html; charset=utf-8").header("cache-control", "no-store").header("content-security-policy", DASHBOARD_CSP).send(page()),
  );
  app.get("/dashboard/", async (_req, reply) => reply.redirect("/dashboard", 301));
  app.get<{ Params: { file: string } }>("/dashboard/assets/:file", async (req, reply) => {
    const asset = ASSETS[req.params.file];
    if (!asset) return reply.code(404).send({ error: "not_found" });
    // Short cache: a restarted calsync with a new dashboard is picked up within a minute.
    return reply.type(asset.type).header("cache-control", "public, max-age=60").send(asset.body);
  });
  app.get("/favicon.ico", async (_req, reply) => reply.type("image/svg+xml").header("cache-control", "public, max-age=86400").send(ASSETS["favicon.svg"]!.body));
}
