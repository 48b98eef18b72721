/**
 * Start-up shared by every command: configuration, logging, the database (embedded when no
 * DATABASE_URL is given), migrations and the connection pool.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { env, setEnv, type Env } from "./config.ts";
import { connectDatabase, disconnectDatabase } from "./db/client.ts";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./db/embedded.ts";
import { migrateDatabase } from "./db/setup.ts";
import { configureLogger, log } from "./log.ts";
import { closeRateLimitStores } from "./ratelimit.ts";
import { randomAdminToken, randomSecretsKey } from "./secrets.ts";

export interface Runtime {
  env: Env;
  databaseUrl: string;
  /** Where the admin token can be read, for the start-up banner. */
  adminTokenHint: string;
  embedded: EmbeddedDatabase | null;
  close(): Promise<void>;
}

/** Reads a generated dev secret from DATA_DIR, creating it (mode 0600) on first start. */
function devSecret(dataDir: string, file: string, make: () => string): string {
  const path = join(dataDir, file);
  if (!existsSync(path)) {
    writeFileSync(path, `${make()}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return readFileSync(path, "utf8").trim();
}

export interface BootOptions {
  /** Apply pending migrations (Default: true). */
  migrate?: boolean;
}

export async function boot(options: BootOptions = {}): Promise<Runtime> {
  let config = env();
  configureLogger({ level: config.LOG_LEVEL });
  const logger = log("db");
  let embedded: EmbeddedDatabase | null = null;
  let databaseUrl = config.DATABASE_URL;
  let adminTokenHint = "the ADMIN_TOKEN environment variable";

  if (!databaseUrl) {
    const dataDir = resolve(config.DATA_DIR);
    mkdirSync(dataDir, { recursive: true });
    const adminToken = config.ADMIN_TOKEN ?? devSecret(dataDir, "admin-token", randomAdminToken);
    const secretsKey = config.SECRETS_KEY ?? devSecret(dataDir, "secrets-key", randomSecretsKey);
    if (!config.ADMIN_TOKEN) adminTokenHint = join(dataDir, "admin-token");
    config = setEnv({ ...config, ADMIN_TOKEN: adminToken, SECRETS_KEY: secretsKey });
    const started = Date.now();
    embedded = await startEmbeddedPostgres({ dataDir });
    databaseUrl = embedded.url;
    logger.info({ dataDir, ms: Date.now() - started }, "embedded PostgreSQL started");
  }

  if (options.migrate ?? true) {
    const applied = await migrateDatabase(databaseUrl);
    if (applied.length) logger.info({ applied }, "migrations applied");
  }
  connectDatabase(databaseUrl);

  const stopEmbedded = embedded;
  return {
    env: config,
    databaseUrl,
    adminTokenHint,
    embedded,
    close: async () => {
      await closeRateLimitStores();
      await disconnectDatabase();
      await stopEmbedded?.stop();
    },
  };
}
