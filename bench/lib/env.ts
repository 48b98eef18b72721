/** The calsync configuration every bench process uses, and the parent's own connection for seeding. */
import { parseEnv, setEnv } from "../../src/config.ts";
import { connectDatabase, disconnectDatabase } from "../../src/db/client.ts";
import { configureLogger } from "../../src/log.ts";

export const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";
export const SECRETS_KEY = Buffer.alloc(32, 11).toString("base64");
export { POOL_SIZE } from "./pool-size.ts";

/** Environment of a calsync child process (silent logs, production mode, no OTel exporters). */
export function calsyncEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    ADMIN_TOKEN,
    SECRETS_KEY,
    LOG_LEVEL: "silent",
    NODE_ENV: "production",
    // Nothing may call the real Cal.com; sections that sync point this at the fake.
    CALCOM_API_URL: "http://127.0.0.1:9",
    CALCOM_RATE_LIMIT_PER_MINUTE: "100000",
    ...extra,
  };
}

/** Configures this process for calsync code (env + silent logs + the DB singleton) on `url`. */
export function useDatabase(databaseUrl: string, extra: Record<string, string> = {}): void {
  setEnv(parseEnv(calsyncEnv(databaseUrl, extra)));
  configureLogger({ level: "silent" });
  connectDatabase(databaseUrl, { max: 4 });
}

export async function releaseDatabase(): Promise<void> {
  await disconnectDatabase();
}
