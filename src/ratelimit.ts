/**
 * Shared rate-limit counters for every process of a deployment: in PostgreSQL (table
 * `rate_limits`) by default, in Redis when REDIS_URL is set. Built on rate-limiter-flexible.
 */
import { createRequire } from "node:module";
import type * as IORedis from "ioredis";
import type { Redis } from "ioredis";
import type pg from "pg";
import { RateLimiterPostgres, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { env } from "./config.ts";
import { pool } from "./db/client.ts";

export { RateLimiterRes };

let redis: Redis | undefined;

/** The one Redis connection of this process for shared counters (REDIS_URL). */
export function redisClient(url: string): Redis {
  // Loaded only when REDIS_URL is set: without it, no process holds the Redis client's code.
  const { Redis } = createRequire(import.meta.url)("ioredis") as typeof IORedis;
  redis ??= new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false });
  return redis;
}

export async function closeRateLimitStores(): Promise<void> {
  const r = redis;
  redis = undefined;
  await r?.quit().catch(() => {});
}

export interface LimiterOptions {
  /** Namespaces the counters, e.g. "webhook-fail". */
  keyPrefix: string;
  /** Points per window. */
  points: number;
  /** Window length in seconds. */
  duration: number;
  /** Once exhausted, stay blocked this many seconds (Default: until the window ends). */
  blockDuration?: number;
  /** PostgreSQL pool for the counters (Default: the main pool). */
  pgPool?: pg.Pool;
}

export function createLimiter(options: LimiterOptions): RateLimiterAbstract {
  const redisUrl = env().REDIS_URL;
  const common = {
    keyPrefix: `calsync:${options.keyPrefix}`,
    points: options.points,
    duration: options.duration,
    ...(options.blockDuration ? { blockDuration: options.blockDuration } : {}),
  };
  if (redisUrl) return new RateLimiterRedis({ ...common, storeClient: redisClient(redisUrl) });
  return new RateLimiterPostgres({
    ...common,
    storeClient: options.pgPool ?? pool(),
    storeType: "pool",
    tableName: "rate_limits",
    tableCreated: true, // created by migration 20261125192520_rate_limits
  });
}
