/**
 * HTTP hardening shared by every route: server timeouts, which proxies to trust for the client
 * address, the CORS allowlist for browser frontends, and security headers.
 *
 * - Timeouts (slow-loris): a client has HTTP_HEADERS_TIMEOUT_MS to send its headers and
 *   HTTP_REQUEST_TIMEOUT_MS for the whole request; an idle keep-alive connection is closed after
 *   HTTP_KEEP_ALIVE_TIMEOUT_MS (behind a load balancer, set it above the balancer's idle timeout).
 * - TRUST_PROXY: unset, `req.ip` is the TCP peer; behind a load balancer name it (hop count or its
 *   addresses), so the webhook failure limit counts the real client, not the balancer. Never
 *   `true` on a listener the public reaches directly: anyone could then pick their address.
 * - CORS: only the exact origins in CORS_ORIGINS get CORS headers on /graphql; no credentials
 *   (calsync uses bearer tokens, never cookies). Without CORS_ORIGINS, no cross-origin browser
 *   access at all (Yoga's default would reflect any origin).
 * - Headers on every response: nosniff, no referrer, no framing, same-origin isolation, and a
 *   Content-Security-Policy: `default-src 'none'` for data (JSON, text), and for HTML pages
 *   (dashboard, GraphiQL) one that allows only this origin's own scripts and fetches (no inline
 *   script, no CDN). A route that sets its own policy (the dashboard) keeps it.
 */
import type { ServerOptions } from "node:http";
import type { FastifyInstance } from "fastify";
import type { Env } from "../config.ts";

export function serverOptions(env: Env): ServerOptions {
  return {
    headersTimeout: env.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeout: env.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeout: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    // Node enforces the two timeouts above on this interval (its default, 30 s, would let a
    // slow client hold a connection up to 30 s past its deadline).
    connectionsCheckingInterval: Math.min(1000, env.HTTP_HEADERS_TIMEOUT_MS),
  };
}

/** Fastify's `trustProxy` from TRUST_PROXY. */
export function trustProxy(env: Env): boolean | string[] | ((address: string, hop: number) => boolean) {
  const v = env.TRUST_PROXY;
  if (v === undefined || v === "false") return false;
  if (v === "true") return true;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    return (_address, hop) => hop < hops; // the N nearest proxies
  }
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Policy for data answers (JSON, Prometheus text): nothing may load or frame them. */
export const DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Policy for calsync's HTML pages without their own (GraphiQL): this origin's files only, no
 * inline script, no eval, no CDN. Inline *styles* are allowed: GraphiQL's editor (Monaco, React)
 * sets hundreds of them at run time; styles cannot run code. The dashboard sets a stricter policy
 * of its own (no inline style either), which is kept.
 */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
  "connect-src 'self'; worker-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const BASE_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
};

export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook("onSend", async (req, reply, payload) => {
    for (const [name, value] of Object.entries(BASE_HEADERS)) {
      if (!reply.hasHeader(name)) reply.header(name, value);
    }
    if (!reply.hasHeader("content-security-policy")) {
      const type = String(reply.getHeader("content-type") ?? "");
      // A script's own policy governs it when it runs as a worker (GraphiQL's editor workers):
      // it gets the page policy; HTML gets it too; everything else is inert data.
      const executable = type.startsWith("text/html") || /javascript/.test(type);
      reply.header("content-security-policy", executable ? PAGE_CSP : DATA_CSP);
    }
    // CORS answers differ by Origin: shared caches must keep them apart.
    if (req.url.startsWith("/graphql")) {
      const vary = String(reply.getHeader("vary") ?? "");
      if (!/\borigin\b/i.test(vary)) reply.header("vary", vary ? `${vary}, Origin` : "Origin");
    }
    if (req.protocol === "https") reply.header("strict-transport-security", "max-age=31536000; includeSubDomains");
    return payload;
  });
}

const CORS_HEADERS = ["authorization", "content-type", "accept", "x-request-id", "x-correlation-id", "graphql-client-name"];

/** Yoga's `cors` option: the allowlisted origin alone, else no CORS headers at all. */
export function yogaCors(env: () => Env) {
  return (request: Request) => {
    const origin = request.headers.get("origin");
    const allowed = env().CORS_ORIGINS ?? [];
    if (!origin || !allowed.includes(origin)) return false as const;
    return {
      origin: [origin],
      credentials: false,
      methods: ["GET", "POST", "OPTIONS"],
      allowedHeaders: CORS_HEADERS,
      exposedHeaders: ["x-request-id", "x-trace-id"],
      maxAge: 600,
    };
  };
}
