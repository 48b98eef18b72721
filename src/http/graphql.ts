import type { IncomingMessage } from "node:http";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import type { FastifyReply, FastifyRequest } from "fastify";
import { authenticate } from "../auth/principal.ts";
import { schema } from "../schema/index.ts";
import type { Context } from "../schema/builder.ts";
import { UnauthenticatedError } from "../domain/errors.ts";
import { maskError } from "../schema/errors.ts";
import { log } from "../log.ts";
import { requestIdOf } from "./request-context.ts";
import { yogaCors } from "./security.ts";
import { graphqlTracing } from "./graphql-tracing.ts";
import { graphqlLimits } from "./graphql-limits.ts";
import { graphqlRateLimits } from "./graphql-rate-limit.ts";
import { graphqlSse } from "./graphql-sse.ts";
import { env } from "../config.ts";
import { renderGraphiqlPage } from "./graphiql.ts";

interface ServerContext {
  req: FastifyRequest;
  reply: FastifyReply;
}

export interface GraphqlOptions {
  adminToken: string;
}

/** GraphiQL on GET /graphql: on in development, off with NODE_ENV=production unless GRAPHIQL=true. */
export function graphiqlEnabled(): boolean {
  const { GRAPHIQL, NODE_ENV } = env();
  return GRAPHIQL ?? NODE_ENV !== "production";
}

export function createGraphql(options: GraphqlOptions): YogaServerInstance<ServerContext, Context> {
  const logger = log("graphql");
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: graphiqlEnabled()
      ? {
          title: "calsync GraphQL",
          // Every operation needs a token: say where it goes (the Headers tab), and start with a
          // query that shows something.
          defaultHeaders: JSON.stringify({ Authorization: "Bearer <admin or company token>" }, null, 2),
          defaultQuery: [
            "# Put your token in Headers below (embedded mode: the admin token is in DATA_DIR/admin-token).",
            "query Coverage {",
            "  coverageReport {",
            "    totalCompanies",
            "    totals { activeServices syncedServices coveragePercent }",
            "    companies { company { id name } coverage { coveragePercent neverSyncedServices } }",
            "  }",
            "}",
            "",
          ].join("\n"),
        }
      : false,
    // Served from the npm package by calsync itself: works offline (see graphiql.ts).
    renderGraphiQL: renderGraphiqlPage,
    landingPage: false,
    // Only the origins in CORS_ORIGINS, and no credentials (see security.ts).
    cors: yogaCors(env),
    // Every error passes through one mapping to `extensions.code` (see schema/errors.ts).
    maskedErrors: { maskError },
    logging: {
      debug: (...args) => logger.debug({ args }, "yoga"),
      info: (...args) => logger.info({ args }, "yoga"),
      warn: (...args) => logger.warn({ args }, "yoga"),
      error: (...args) => logger.error({ err: args[0] }, "unexpected GraphQL error"),
    },
    // Order matters: a document the limits refuse is not counted against the token's rate.
    plugins: [
      graphqlSse("/graphql", options.adminToken),
      ...graphqlTracing(),
      ...graphqlLimits({ env: env() }),
      graphqlRateLimits({ env: env(), schema }),
    ],
    context: async ({ req, request }): Promise<Context> => {
      const principal = await authenticate(request.headers.get("authorization"), options.adminToken);
      if (!principal) throw new UnauthenticatedError();
      return { principal, requestId: requestIdOf(req.raw as IncomingMessage), ip: req.ip };
    },
  });
}
