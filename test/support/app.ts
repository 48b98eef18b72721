import type { FastifyInstance } from "fastify";
import request from "supertest";
import { connectDatabase, disconnectDatabase } from "../../src/db/client.ts";
import { parseEnv, setEnv, type Env } from "../../src/config.ts";
import { buildApp } from "../../src/http/app.ts";
import { configureLogger } from "../../src/log.ts";
import { createTestDatabase } from "./db.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";
export const SECRETS_KEY = Buffer.alloc(32, 7).toString("base64");

export interface TestApp {
  app: FastifyInstance;
  env: Env;
  databaseUrl: string;
  /** POST a GraphQL operation with a bearer token (admin by default). */
  gql: (query: string, variables?: Record<string, unknown>, token?: string | null) => Promise<request.Response>;
  http: () => ReturnType<typeof request>;
  close: () => Promise<void>;
}

/** A fresh database, connected, and the HTTP app built on it (not listening). */
export async function startTestApp(extraEnv: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const env = setEnv(
    parseEnv({
      DATABASE_URL: database.url,
      ADMIN_TOKEN,
      SECRETS_KEY,
      LOG_LEVEL: "silent",
      ...extraEnv,
    }),
  );
  configureLogger({ level: env.LOG_LEVEL });
  connectDatabase(database.url, { max: 5 });
  const app = await buildApp({ adminToken: ADMIN_TOKEN });
  await app.ready();
  const http = () => request(app.server);
  return {
    app,
    env,
    databaseUrl: database.url,
    http,
    gql: (query, variables = {}, token = ADMIN_TOKEN) => {
      const req = http().post("/graphql").set("content-type", "application/json");
      if (token !== null) req.set("authorization", `Bearer ${token}`);
      return req.send({ query, variables });
    },
    close: async () => {
      await app.close();
      await disconnectDatabase();
      await database.drop();
    },
  };
}
