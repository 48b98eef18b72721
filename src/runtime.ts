/**
 * Start-up shared by every command: configuration, logging, the database (embedded when no
 * DATABASE_URL is given), migrations and the connection pool.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { env, setEnv, type Env } from "./config.ts";
import { connectDatabase, disconnectDatabase } from "./db/client.ts";
import { checkSecretsKey } from "./domain/stored-secrets.ts";
import { FAST_SHUTDOWN_MS, IMMEDIATE_SHUTDOWN_MS, startEmbeddedPostgres, type EmbeddedDatabase } from "./db/embedded.ts";
import { migrateDatabase } from "./db/setup.ts";
import {
  SHARED_FILE,
  findSharedDatabase,
  orphanedPostmaster,
  publishSharedDatabase,
  removeStaleRecord,
  runningPostmaster,
  stopOrphan,
  withdrawSharedDatabase,
} from "./db/shared-embedded.ts";
import { configureLogger, log } from "./log.ts";
import { closeRateLimitStores } from "./ratelimit.ts";
import { randomAdminToken, randomSecretsKey } from "./secrets.ts";

export interface Runtime {
  env: Env;
  databaseUrl: string;
  /** Where the admin token can be read, for the start-up banner. */
  adminTokenHint: string;
  embedded: EmbeddedDatabase | null;
  /** The embedded database of another calsync process on the same DATA_DIR, when attached to it. */
  attachedTo: { pid: number } | null;
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
  let attachedTo: Runtime["attachedTo"] = null;

  if (!databaseUrl) {
    const dataDir = resolve(config.DATA_DIR);
    mkdirSync(dataDir, { recursive: true });
    const adminToken = config.ADMIN_TOKEN ?? devSecret(dataDir, "admin-token", randomAdminToken);
    const secretsKey = config.SECRETS_KEY ?? devSecret(dataDir, "secrets-key", randomSecretsKey);
    if (!config.ADMIN_TOKEN) adminTokenHint = join(dataDir, "admin-token");
    config = setEnv({ ...config, ADMIN_TOKEN: adminToken, SECRETS_KEY: secretsKey });
    const opened = await openEmbedded(dataDir);
    embedded = opened.embedded;
    databaseUrl = opened.url;
    attachedTo = opened.attachedTo;
  }

  if (options.migrate ?? true) {
    const applied = await migrateDatabase(databaseUrl);
    if (applied.length) logger.info({ applied }, "migrations applied");
  }
  connectDatabase(databaseUrl);

  const stopEmbedded = embedded;
  const dataDir = resolve(config.DATA_DIR);
  const close = async () => {
    await closeRateLimitStores();
    await disconnectDatabase();
    if (stopEmbedded) {
      withdrawSharedDatabase(dataDir);
      await stopEmbedded.stop();
    }
  };
  // migrate only touches the schema; every other command needs the stored secrets readable.
  if (options.migrate ?? true) {
    try {
      await checkSecretsKey();
    } catch (err) {
      await close();
      throw err;
    }
  }
  return {
    env: config,
    databaseUrl,
    adminTokenHint,
    embedded,
    attachedTo,
    close,
  };
}

/** Message when the data directory is held by a postmaster nobody published (see shared-embedded.ts). */
export class DataDirBusyError extends Error {
  override name = "DataDirBusyError";
}

/**
 * The embedded database for DATA_DIR: the one another calsync process already runs there (see
 * shared-embedded.ts), else a new one started and published by this process.
 */
async function openEmbedded(dataDir: string): Promise<{ embedded: EmbeddedDatabase | null; url: string; attachedTo: Runtime["attachedTo"] }> {
  const logger = log("db");
  const databaseDir = join(dataDir, "pg");
  // A postmaster holding the directory without a published address may be a calsync process
  // still starting (it publishes right after start): give it a few seconds.
  for (let waited = 0; ; waited += 250) {
    const shared = await findSharedDatabase(dataDir);
    if (shared) {
      logger.info({ dataDir, ownerPid: shared.pid }, "using the embedded PostgreSQL of the calsync process running on this DATA_DIR");
      return { embedded: null, url: shared.url, attachedTo: { pid: shared.pid } };
    }
    const orphan = orphanedPostmaster(dataDir);
    if (orphan !== null) {
      // Its calsync was killed without stopping it: stop it, then start our own on the directory.
      logger.warn({ dataDir, postmasterPid: orphan }, "stopping the embedded PostgreSQL left running by a calsync process that is gone");
      if (!(await stopOrphan(orphan, FAST_SHUTDOWN_MS, IMMEDIATE_SHUTDOWN_MS))) {
        throw new DataDirBusyError(`the orphaned embedded PostgreSQL in ${databaseDir} (pid ${orphan}) did not stop`);
      }
      removeStaleRecord(dataDir);
      continue;
    }
    const holder = runningPostmaster(databaseDir);
    if (holder === null) break;
    if (waited >= 5_000) {
      throw new DataDirBusyError(
        `the embedded PostgreSQL in ${databaseDir} is already running (postmaster pid ${holder}) but no calsync process ` +
          `published its address in ${join(dataDir, SHARED_FILE)}: stop the process that started it ` +
          "(an older calsync, or a postgres started by hand), or point this command at a database with DATABASE_URL",
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const started = Date.now();
  const embedded = await startEmbeddedPostgres({ dataDir });
  publishSharedDatabase(dataDir, embedded.url, embedded.pid);
  logger.info({ dataDir, ms: Date.now() - started }, "embedded PostgreSQL started");
  return { embedded, url: embedded.url, attachedTo: null };
}
