/**
 * Shared rate-limit counters for every process of a deployment: in PostgreSQL (table
 * `rate_limits`) by default, in Redis when REDIS_URL is set. Built on rate-limiter-flexible.
 *
 * `storeClock: true` (the Cal.com budget) makes each fixed window start and end by the store's own
 * clock at the moment the store grants the point, with millisecond window lengths:
 * - rate-limiter-flexible's PostgreSQL store stamps a window with the caller's `Date.now()` taken
 *   before the query is sent. Waiting for a pooled connection, for the row lock held by another
 *   process's consume (whose commit waits for its WAL flush), or for a CPU on a loaded host makes
 *   that stamp older than the grant, so the window ends early and the next one opens less than a
 *   window after the last grant: two windows' bursts then fit in less than the period (seen as 6
 *   grants in a 600 ms period whose limit is 5, see test/rate-budget.test.ts). Here the upsert
 *   reads `clock_timestamp()` once, after it holds the row, and decides and stamps with that.
 * - Its Redis store floors the window to whole seconds (`EX`): 3.158 s windows became 3 s ones,
 *   105 grants a minute for a budget of 100. Here the key expires after the exact milliseconds
 *   (`PX`, Redis's clock, set by the script that grants the first point).
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
  /** Windows timed by the store's clock at the grant, to the millisecond (Default: false). */
  storeClock?: boolean;
}

interface LibraryInternals {
  _query(q: { name: string; text: string; values: unknown[] }): Promise<unknown>;
  _getTableIdentifier(): string;
  _upsert(key: string, points: number, msDuration: number, forceExpire?: boolean): Promise<unknown>;
  _getRateLimiterRes(rlKey: string, changedPoints: number, result: unknown): RateLimiterRes;
}
const libraryUpsert = (RateLimiterPostgres.prototype as unknown as LibraryInternals)._upsert;
const libraryGetRes = (RateLimiterPostgres.prototype as unknown as LibraryInternals)._getRateLimiterRes;

/**
 * rate-limiter-flexible's PostgreSQL limiter with windows stamped by the database's clock at the
 * grant (see the module comment). Only a consume's upsert changes; `block`/`set` (forceExpire)
 * keep the library's own statement.
 */
export class RateLimiterPostgresStoreClock extends RateLimiterPostgres {
  // `_upsert`, `_query` and `_getRateLimiterRes` are rate-limiter-flexible's (11.x) internal
  // hooks: consume/penalty/reward call `_upsert(key, points, msDuration)` and build their result
  // from its first row's `points` and `expire`. test/rate-budget.test.ts holds this.
  _upsert(key: string, points: number, msDuration: number, forceExpire = false): Promise<unknown> {
    const library = this as unknown as LibraryInternals;
    if (forceExpire || !(msDuration > 0)) return libraryUpsert.call(this, key, points, msDuration, forceExpire);
    const t = library._getTableIdentifier();
    // One clock reading per row, taken in the DO UPDATE's sub-select, i.e. once the row is
    // locked (an INSERT needs no lock: nobody else saw the key).
    return library._query({
      name: "calsync-upsert-store-clock",
      text: `
        INSERT INTO ${t} (key, points, expire)
          SELECT $1, $2, c.ms + $3 FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) c
        ON CONFLICT (key) DO UPDATE SET (points, expire) = (
          SELECT CASE WHEN ${t}.expire <= c.ms THEN $2 ELSE ${t}.points + $2 END,
                 CASE WHEN ${t}.expire <= c.ms THEN c.ms + $3 ELSE ${t}.expire END
            FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) c)
        RETURNING points, expire, expire - (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms_left`,
      values: [key, points, Math.round(msDuration)],
    });
  }

  _getRateLimiterRes(rlKey: string, changedPoints: number, result: { rows: { ms_left?: string | number }[] }): RateLimiterRes {
    const res = libraryGetRes.call(this, rlKey, changedPoints, result);
    // `expire` is the database's clock: what is left of the window comes back measured there.
    const left = result.rows[0]?.ms_left;
    if (left !== undefined) (res as { msBeforeNext: number }).msBeforeNext = Math.max(Number(left), 0);
    return res;
  }
}

/** rate-limiter-flexible's Redis script (consume), with the window in milliseconds (`PX`). */
const INCR_PX_SCRIPT = `redis.call('set', KEYS[1], 0, 'PX', math.floor(tonumber(ARGV[4]) * 1000 + 0.5), 'NX')
local consumed = redis.call('incrby', KEYS[1], ARGV[1])
local ttl = redis.call('pttl', KEYS[1])
if ttl == -1 then
  redis.call('pexpire', KEYS[1], math.floor(tonumber(ARGV[4]) * 1000 + 0.5))
  ttl = math.floor(tonumber(ARGV[4]) * 1000 + 0.5)
end
return {consumed, ttl}`;

export function createLimiter(options: LimiterOptions): RateLimiterAbstract {
  const redisUrl = env().REDIS_URL;
  const common = {
    keyPrefix: `calsync:${options.keyPrefix}`,
    points: options.points,
    duration: options.duration,
    ...(options.blockDuration ? { blockDuration: options.blockDuration } : {}),
  };
  if (redisUrl) {
    if (options.storeClock && options.duration < 1) throw new RangeError("rate limiter: Redis windows are at least 1 s");
    return new RateLimiterRedis({
      ...common,
      storeClient: redisClient(redisUrl),
      ...(options.storeClock ? { customIncrTtlLuaScript: INCR_PX_SCRIPT } : {}),
    });
  }
  const Postgres = options.storeClock ? RateLimiterPostgresStoreClock : RateLimiterPostgres;
  return new Postgres({
    ...common,
    storeClient: options.pgPool ?? pool(),
    storeType: "pool",
    tableName: "rate_limits",
    tableCreated: true, // created by migration 20261125192520_rate_limits
  });
}
