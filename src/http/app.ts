/**
 * Builds the HTTP application (no listening here; see server.ts). Tests drive it in-process
 * through `app.server` with supertest.
 */
import { createServer } from "node:http";
import Fastify, { type FastifyInstance } from "fastify";
import { env } from "../config.ts";
import { log } from "../log.ts";
import { installSecurityHeaders, serverOptions, trustProxy } from "./security.ts";
import { createGraphql } from "./graphql.ts";
import { healthRoutes } from "./health.ts";
import { metricsRoutes } from "./metrics.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { requestIdOf, withRequestContext } from "./request-context.ts";
import { stopRunEvents } from "../sync/run-events.ts";
import { calcomWebhookRoutes } from "./webhooks/calcom.ts";

export interface AppOptions {
  adminToken: string;
}

const QUIET_ROUTES = new Set(["/healthz", "/readyz", "/metrics"]);

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const httpLog = log("http");
  const config = env();
  const app = Fastify({
    logger: false,
    // Header, request and keep-alive timeouts live on the node server (see security.ts).
    serverFactory: (handler) => createServer(serverOptions(config), withRequestContext(handler)),
    trustProxy: trustProxy(config),
    genReqId: (req) => requestIdOf(req),
    // Cal.com and operators see precise 4xx; never leak stack traces.
    // Draining is answered by our own hook below, with the contract's body and Retry-After.
    return503OnClosing: false,
    forceCloseConnections: "idle",
  });

  // While draining for shutdown, answers close their connection, so a keep-alive client does not
  // hold the server open until its idle timeout.
  let draining = false;
  app.addHook("preClose", async () => {
    draining = true;
  });
  app.addHook("onSend", async (_req, reply) => {
    if (draining) reply.header("connection", "close");
  });
  // A request that still reaches a draining server (keep-alive) is told to come back: Cal.com
  // does not retry, but operators' load balancers and other clients do.
  app.addHook("onRequest", async (_req, reply) => {
    if (draining) return reply.code(503).header("retry-after", "5").send({ error: "unavailable" });
  });

  app.addHook("onResponse", async (req, reply) => {
    const line = {
      // The hook runs outside the request's context, so the id is named here explicitly.
      correlation_id: req.id,
      method: req.method,
      route: req.routeOptions.url ?? "unmatched",
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    };
    if (QUIET_ROUTES.has(line.route)) httpLog.debug(line, "request");
    else httpLog.info(line, "request");
  });

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) httpLog.error({ err, route: req.routeOptions.url }, "unhandled request error");
    return reply.code(status).send({ error: status === 500 ? "internal_error" : (err.code ?? "bad_request").toLowerCase() });
  });

  // The LISTEN connection behind syncRunProgress subscriptions.
  app.addHook("onClose", stopRunEvents);

  await app.register(healthRoutes);
  installSecurityHeaders(app);
  // With METRICS_PORT, /metrics lives only on its own listener (server.ts), not on this one.
  if (config.METRICS_PORT === undefined) await app.register(metricsRoutes);
  await app.register(dashboardRoutes);
  await app.register(calcomWebhookRoutes);

  const yoga = createGraphql({ adminToken: options.adminToken });
  app.route({
    url: yoga.graphqlEndpoint,
    method: ["GET", "POST", "OPTIONS"],
    handler: async (req, reply) => {
      const response = await yoga.handleNodeRequestAndResponse(req, reply, { req, reply });
      response.headers.forEach((value, key) => void reply.header(key, value));
      reply.status(response.status);
      return reply.send(response.body);
    },
  });

  return app;
}

/** The separate /metrics listener of METRICS_PORT: the metrics route alone, with the same hardening. */
export async function buildMetricsApp(): Promise<FastifyInstance> {
  const config = env();
  const app = Fastify({
    logger: false,
    serverFactory: (handler) => createServer(serverOptions(config), withRequestContext(handler)),
    trustProxy: trustProxy(config),
    forceCloseConnections: "idle",
  });
  installSecurityHeaders(app);
  await app.register(metricsRoutes);
  return app;
}
