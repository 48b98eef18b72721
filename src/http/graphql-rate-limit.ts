/**
 * Per-token rate limits on GraphQL: every mutation, and the fields that cost the most to answer
 * (coverageReport, nodes, the syncRunProgress subscription). Limits count per company token and
 * per field, over a sliding minute, shared by every process of the deployment: in PostgreSQL
 * (table graphql_rate_limits) or, with REDIS_URL, in Redis.
 *
 * Library: @envelop/rate-limiter, the maintained Yoga/envelop form of graphql-rate-limit. The
 * design card named graphql-rate-limit itself, but 3.3.0 drags graphql-shield 7 and
 * @graphql-tools/utils 7, whose peer range is graphql ^14 || ^15: `npm ls graphql` reports them
 * "invalid" beside our graphql 16, and only its resolver-level core would work. The envelop
 * plugin peers on graphql 16, needs no directive in the schema, checks the whole document before
 * execution (a refused operation runs nothing) and takes a custom store.
 *
 * Store invariant: the library asks `getForIdentity` for the calls in the window, decides, then
 * writes the list back with `setForIdentity`. Done literally against a shared store that is a
 * read-modify-write race: two processes read the same list and one call goes uncounted. So this
 * store records the call inside `getForIdentity`, atomically (one upsert that prunes, appends
 * and returns), and returns the calls *before* this one; `setForIdentity` has nothing left to do.
 * Rejected calls count too (they are still load).
 *
 * The admin token is not limited: it is the operator's own, and limits exist to keep one tenant
 * from starving the others.
 */
import { useRateLimiter, type Identity } from "@envelop/rate-limiter";
import type { Plugin } from "@envelop/core";
import type { GraphQLSchema } from "graphql";
import type { Env } from "../config.ts";
import { pool } from "../db/client.ts";
import { redisClient } from "../ratelimit.ts";
import { RateLimitedError } from "../domain/errors.ts";
import type { Context } from "../schema/builder.ts";

const WINDOW_MS = 60_000;
const ADMIN = "admin";

/** Fields beyond the mutations that are expensive enough to limit (when the schema has them). */
export const EXPENSIVE_FIELDS: readonly [string, string][] = [
  ["Query", "coverageReport"],
  ["Query", "nodes"],
  ["Query", "webhookEvents"],
  ["Company", "linkSuggestions"],
  ["Subscription", "syncRunProgress"],
];

/** A sliding-window log shared by every process; see the invariant at the top of this file. */
export class SharedRateLimitStore {
  readonly #redisUrl: string | undefined;
  #calls = 0;

  constructor(redisUrl: string | undefined) {
    this.#redisUrl = redisUrl;
  }

  async getForIdentity(identity: Identity): Promise<readonly number[]> {
    if (identity.contextIdentity === ADMIN) return [];
    const key = `${identity.contextIdentity}:${identity.fieldIdentity}`;
    const now = Date.now();
    return this.#redisUrl ? this.#recordInRedis(key, now) : this.#recordInPostgres(key, now);
  }

  setForIdentity(): void {
    // Recorded atomically in getForIdentity.
  }

  async #recordInPostgres(key: string, now: number): Promise<number[]> {
    const { rows } = await pool().query<{ hits: string[] }>(
      `INSERT INTO graphql_rate_limits (key, hits, expires_at)
         VALUES ($1, ARRAY[$2::bigint], to_timestamp(($2::bigint + $3::bigint) / 1000.0))
       ON CONFLICT (key) DO UPDATE SET
         hits = array_append(
           ARRAY(SELECT h FROM unnest(graphql_rate_limits.hits) AS h WHERE h > $2::bigint - $3::bigint ORDER BY h),
           $2::bigint),
         expires_at = EXCLUDED.expires_at
       RETURNING hits`,
      [key, now, WINDOW_MS],
    );
    // Now and then, drop the logs of tokens that went quiet.
    if (++this.#calls % 500 === 0) await pool().query("DELETE FROM graphql_rate_limits WHERE expires_at < now()");
    return (rows[0]?.hits ?? []).slice(0, -1).map(Number);
  }

  async #recordInRedis(key: string, now: number): Promise<number[]> {
    const redisKey = `calsync:graphql-rate:${key}`;
    const member = `${now}:${Math.random().toString(36).slice(2)}`;
    const results = await redisClient(this.#redisUrl!)
      .multi()
      .zremrangebyscore(redisKey, "-inf", now - WINDOW_MS)
      .zrange(redisKey, 0, -1, "WITHSCORES")
      .zadd(redisKey, now, member)
      .pexpire(redisKey, WINDOW_MS)
      .exec();
    const listed = (results?.[1]?.[1] ?? []) as string[];
    const before: number[] = [];
    for (let i = 1; i < listed.length; i += 2) before.push(Number(listed[i]));
    return before;
  }
}

function identify(ctx: Context): string {
  return ctx.principal.kind === "admin" ? ADMIN : `token:${ctx.principal.tokenId}`;
}

export interface RateLimitOptions {
  env: Pick<Env, "GRAPHQL_RATE_LIMIT_MUTATIONS" | "GRAPHQL_RATE_LIMIT_EXPENSIVE" | "REDIS_URL">;
  schema: GraphQLSchema;
}

// oxlint-disable-next-line typescript/no-explicit-any -- each plugin has its own context type
export function graphqlRateLimits({ env, schema }: RateLimitOptions): Plugin<any> {
  const rule = (type: string, field: string, max: number) => ({
    type,
    field,
    max,
    window: "1m",
    message: `Too many calls to ${type}.${field} with this token: at most ${max} a minute.`,
  });
  const mutations = Object.keys(schema.getMutationType()?.getFields() ?? {}).map((field) =>
    rule("Mutation", field, env.GRAPHQL_RATE_LIMIT_MUTATIONS),
  );
  const expensive = EXPENSIVE_FIELDS.filter(([type, field]) => {
    const t = schema.getType(type);
    return !!t && "getFields" in t && field in t.getFields();
  }).map(([type, field]) => rule(type, field, env.GRAPHQL_RATE_LIMIT_EXPENSIVE));
  const limiter = useRateLimiter({
    identifyFn: (ctx) => identify(ctx as Context),
    store: new SharedRateLimitStore(env.REDIS_URL),
    configByField: [...mutations, ...expensive],
    // A coded error (RATE_LIMITED, HTTP 429 with Retry-After) instead of the library's bare one.
    transformError: (message) => new RateLimitedError(message, WINDOW_MS / 1000),
  });
  // The admin token is never limited (the store answers it an empty log and records nothing), so
  // its operations skip the limiter's walk over the document (a TypeInfo visit per request).
  const onExecute = limiter.onExecute;
  if (!onExecute) return limiter;
  return {
    ...limiter,
    onExecute(payload) {
      if ((payload.args.contextValue as Partial<Context>).principal?.kind === "admin") return;
      return onExecute(payload);
    },
  };
}
