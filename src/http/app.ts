/**
 * Builds the HTTP application (no listening here; see server.ts). Tests drive it in-process
 * through `app.server` with supertest.
 */
import { createServer } from "node:http";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { context } from "@opentelemetry/api";
import { getRPCMetadata, RPCType } from "@opentelemetry/core";
import { env } from "../config.ts";
import { log } from "../log.ts";
import { installSecurityHeaders, serverOptions, trustProxy } from "./security.ts";
import { createGraphql } from "./graphql.ts";
import { healthRoutes } from "./health.ts";
import { metricsRoutes } from "./metrics.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { graphiqlAssetRoutes } from "./graphiql.ts";
import { requestIdOf, withRequestContext } from "./request-context.ts";
import { stopRunEvents } from "../sync/run-events.ts";
import { calcomWebhookRoutes } from "./webhooks/calcom.ts";

/** Code and message for a request body Fastify refused before GraphQL saw it. */
function graphqlBodyError(fastifyCode: string | undefined, status: number): [string, string] {
  switch (fastifyCode) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return ["BAD_REQUEST", "The request body is not valid JSON: send {\"query\": \"…\", \"variables\": {…}}."];
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return ["BAD_REQUEST", "The request body is empty: send {\"query\": \"…\"}."];
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return ["PAYLOAD_TOO_LARGE", "The request body is too large."];
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return ["UNSUPPORTED_MEDIA_TYPE", "Send the operation as application/json."];
    default:
      return [status === 413 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST", "The request could not be read."];
  }
}

export interface AppOptions {
  adminToken: string;
}

/** The webhook routes' URLs (before routing: the raw request URL). */
function isWebhookUrl(url: string): boolean {
  return url.startsWith("/webhooks/calcom") || url.startsWith("/api/calcom/webhook");
}

/** Yoga's content types for one complete result (as opposed to event streams). */
const JSON_RESULT = /^application\/(graphql-response\+)?json\b/i;

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
    // A path parameter of any length reaches its route (Fastify's default, 100, answers 414): an
    // over-long `:companyId` is an unknown company, 401 (CONTRACT §3). Node's own request-line
    // limit (16 KiB of headers) still bounds it.
    routerOptions: { maxParamLength: 16_384 },
    // A path the router cannot decode (bad percent-encoding) never reaches a route. On the webhook
    // paths it names no company: the same 401 as any unknown company (CONTRACT §3), no hint.
    frameworkErrors: (err, req, reply) => {
      const r = reply as unknown as FastifyReply;
      if (isWebhookUrl(req.raw.url ?? "")) return void r.code(401).send({ error: "invalid_signature" });
      return void r.code(400).send({ error: (err.code ?? "bad_request").toLowerCase() });
    },
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
  // Name the HTTP server span and label the HTTP metrics by route (`POST /webhooks/calcom/:companyId`,
  // http.route), never by the concrete URL: instrumentation-http reads the route from the request's
  // RPC metadata when the response ends. Unmatched URLs keep the bare method, so an id or a probe
  // never becomes a span name or a metric label.
  app.addHook("onRequest", async (req) => {
    const rpc = getRPCMetadata(context.active());
    if (rpc?.type === RPCType.HTTP && req.routeOptions.url) rpc.route = req.routeOptions.url;
  });
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
  await app.register(graphiqlAssetRoutes);
  await app.register(calcomWebhookRoutes);

  const yoga = createGraphql({ adminToken: options.adminToken });
  app.route({
    url: yoga.graphqlEndpoint,
    method: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
    // A body Fastify cannot read (malformed JSON, wrong media type, too large) still gets a
    // GraphQL-shaped answer: clients parse `errors[].extensions.code`, not Fastify's own shape.
    errorHandler: (err: { statusCode?: number; code?: string; message: string }, req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) {
        httpLog.error({ err, route: req.routeOptions.url }, "unhandled request error");
        return reply.code(500).send({ errors: [{ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR" } }] });
      }
      const [code, message] = graphqlBodyError(err.code, status);
      return reply.code(status).type("application/json; charset=utf-8").send({ errors: [{ message, extensions: { code } }] });
    },
    handler: async (req, reply) => {
      const response = await yoga.handleNodeRequestAndResponse(req, reply, { req, reply });
      response.headers.forEach((value, key) => void reply.header(key, value));
      reply.status(response.status);
      // A single JSON result goes out as one string: headers and body in one socket write. Piping
      // Yoga's body stream made Fastify adapt a web stream and write the head and each chunk apart
      // (a tenth of a small query's CPU). Streams (SSE, multipart subscriptions) stay streams.
      if (JSON_RESULT.test(response.headers.get("content-type") ?? "")) return reply.send(await response.text());
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
