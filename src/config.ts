/**
 * The only reader of `process.env`. One zod schema, parsed once; a bad variable stops start-up
 * with one line that names it and says how to fix it.
 */
import { z } from "zod";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const CRON_FIELD = /^[\d*/,-]+$/;

function intVar(min: number, max: number, fix: string) {
  return z
    .string()
    .regex(/^\d+$/, fix)
    .transform(Number)
    .refine((n) => n >= min && n <= max, fix);
}

function cronVar(example: string) {
  return z.string().refine((s) => {
    const parts = s.trim().split(/\s+/);
    return parts.length === 5 && parts.every((p) => CRON_FIELD.test(p));
  }, `must be a five-field cron expression, e.g. ${example}`);
}

const base64Key = z
  .string()
  .refine((s) => /^[A-Za-z0-9+/]+={0,2}$/.test(s) && Buffer.from(s, "base64").length === 32, {
    message: "must be 32 random bytes in base64; create one with `openssl rand -base64 32`",
  });

export const envSchema = z
  .object({
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, "must be a postgres:// or postgresql:// URL")
      .optional(),
    HOST: z.string().min(1, "must name an interface, e.g. 127.0.0.1").default("127.0.0.1"),
    PORT: intVar(0, 65535, "must be a port number from 0 to 65535").default(4000),
    DATA_DIR: z.string().min(1, "must be a directory path").default("./.data"),
    ADMIN_TOKEN: z
      .string()
      .min(24, "must be at least 24 characters; create one with `openssl rand -hex 24`")
      .optional(),
    SECRETS_KEY: base64Key.optional(),
    SECRETS_KEY_PREVIOUS: base64Key.optional(),
    CALCOM_API_URL: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL without /v2, e.g. https://api.cal.com" })
      .refine((u) => !/\/v2\/?$/.test(u), "must not end in /v2 (calsync adds it)")
      .transform((u) => u.replace(/\/+$/, ""))
      .default("https://api.cal.com"),
    CALCOM_WEBHOOK_SECRET: z.string().min(1, "must not be empty (unset it instead)").optional(),
    CALCOM_TIMEOUT_MS: intVar(100, 600_000, "must be milliseconds from 100 to 600000").default(10_000),
    CALCOM_RATE_LIMIT_PER_MINUTE: intVar(1, 100_000, "must be requests per minute, at least 1").default(100),
    WEBHOOK_MAX_BYTES: intVar(1024, 64 * 1024 * 1024, "must be a byte count from 1024 to 67108864").default(1_048_576),
    WORKER_CONCURRENCY: intVar(1, 256, "must be a whole number from 1 to 256").default(4),
    WORKER_DEAD_AFTER_SECONDS: intVar(2, 86_400, "must be seconds from 2 to 86400").default(30),
    SYNC_CRON: z
      .string()
      .refine((s) => {
        const parts = s.trim().split(/\s+/);
        return parts.length === 5 && parts.every((p) => CRON_FIELD.test(p));
      }, "must be a five-field cron expression, e.g. */15 * * * *")
      .default("*/15 * * * *"),
    /** Reconcile every connected company's bookings with Cal.com's (missed webhooks). */
    RECONCILE_CRON: cronVar("0 * * * *").default("0 * * * *"),
    /** The daily retention task (src/retention/). */
    RETENTION_CRON: cronVar("40 3 * * *").default("40 3 * * *"),
    /** Attendee data is scrubbed from processed webhook payloads older than this. */
    WEBHOOK_PAYLOAD_RETENTION_DAYS: intVar(1, 36_500, "must be a whole number of days from 1 to 36500").default(30),
    /** Webhook events older than this are deleted (unresolved FAILED/INVALID/UNMATCHED ones are kept). */
    WEBHOOK_RETENTION_DAYS: intVar(1, 36_500, "must be a whole number of days from 1 to 36500").default(90),
    /** Finished sync and reconcile runs older than this are deleted. */
    RUN_RETENTION_DAYS: intVar(1, 36_500, "must be a whole number of days from 1 to 36500").default(90),
    /** Audit events older than this are deleted. */
    AUDIT_RETENTION_DAYS: intVar(1, 36_500, "must be a whole number of days from 1 to 36500").default(365),
    /** Rows per retention statement (each its own short transaction). */
    RETENTION_BATCH_SIZE: intVar(1, 100_000, "must be a whole number from 1 to 100000").default(500),
    LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL")
      .optional(),
    NODE_ENV: z.string().default("development"),
    METRICS_TOKEN: z
      .string()
      .min(16, "must be at least 16 characters; create one with `openssl rand -hex 24`")
      .optional(),
    METRICS_PORT: intVar(0, 65535, "must be a port number from 0 to 65535 (a separate listener for /metrics)").optional(),
    METRICS_HOST: z.string().min(1, "must name an interface, e.g. 127.0.0.1").default("127.0.0.1"),
    CORS_ORIGINS: z
      .string()
      .transform((s) => s.split(",").map((o) => o.trim()).filter(Boolean))
      .refine(
        (list) => list.length > 0 && list.every((o) => /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/.test(o)),
        "must be a comma-separated list of origins such as https://app.example.com,http://localhost:5173 (no paths, no *)",
      )
      .optional(),
    TRUST_PROXY: z
      .string()
      .refine(
        (s) => /^(true|false|\d{1,2})$/.test(s) || s.split(",").every((p) => /^[0-9A-Fa-f.:/]+$|^(loopback|linklocal|uniquelocal)$/.test(p.trim())),
        "must be true, false, a hop count, or a comma-separated list of proxy addresses/CIDRs (e.g. 10.0.0.0/8)",
      )
      .optional(),
    HTTP_HEADERS_TIMEOUT_MS: intVar(1000, 600_000, "must be milliseconds from 1000 to 600000").default(10_000),
    HTTP_REQUEST_TIMEOUT_MS: intVar(1000, 3_600_000, "must be milliseconds from 1000 to 3600000").default(30_000),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: intVar(1000, 600_000, "must be milliseconds from 1000 to 600000").default(5_000),
    // GraphQL limits (see src/http/graphql-limits.ts); each refusal names the limit it hit.
    GRAPHQL_MAX_DEPTH: intVar(2, 100, "must be a whole number from 2 to 100").default(12),
    GRAPHQL_MAX_ALIASES: intVar(0, 1000, "must be a whole number from 0 to 1000").default(15),
    GRAPHQL_MAX_DIRECTIVES: intVar(0, 1000, "must be a whole number from 0 to 1000").default(20),
    GRAPHQL_MAX_TOKENS: intVar(100, 100_000, "must be a whole number from 100 to 100000").default(4_000),
    GRAPHQL_MAX_COST: intVar(100, 10_000_000, "must be a whole number from 100 to 10000000").default(20_000),
    GRAPHQL_MAX_NODES: intVar(100, 10_000_000, "must be a whole number from 100 to 10000000").default(10_000),
    GRAPHQL_RATE_LIMIT_MUTATIONS: intVar(1, 100_000, "must be calls per minute, at least 1").default(60),
    GRAPHQL_RATE_LIMIT_EXPENSIVE: intVar(1, 100_000, "must be calls per minute, at least 1").default(30),
    GRAPHQL_INTROSPECTION: z.enum(["true", "false"], { error: "must be true or false" }).transform((v) => v === "true").optional(),
    GRAPHIQL: z.enum(["true", "false"], { error: "must be true or false" }).transform((v) => v === "true").optional(),
    /** https://no-color.org: any value turns ANSI colour off in the CLI. */
    NO_COLOR: z.string().optional(),
    /** Where the dashboard links trace ids, with `{traceId}` in it, e.g. http://localhost:16686/trace/{traceId}. */
    TRACE_UI_URL: z
      .string()
      .regex(/^https?:\/\/\S*\{traceId\}\S*$/, "must be an http(s) URL containing {traceId}, e.g. http://localhost:16686/trace/{traceId}")
      .optional(),
  })
  .superRefine((vars, ctx) => {
    if (vars.HTTP_HEADERS_TIMEOUT_MS > vars.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({ code: "custom", path: ["HTTP_HEADERS_TIMEOUT_MS"], message: "must not exceed HTTP_REQUEST_TIMEOUT_MS" });
    }
    if (vars.SECRETS_KEY_PREVIOUS && !vars.SECRETS_KEY) {
      ctx.addIssue({ code: "custom", path: ["SECRETS_KEY_PREVIOUS"], message: "needs SECRETS_KEY (the new key) beside it" });
    }
    if (vars.SECRETS_KEY_PREVIOUS && vars.SECRETS_KEY_PREVIOUS === vars.SECRETS_KEY) {
      ctx.addIssue({ code: "custom", path: ["SECRETS_KEY_PREVIOUS"], message: "must differ from SECRETS_KEY (it is the key being rotated out)" });
    }
    if (!vars.DATABASE_URL) return;
    for (const key of ["ADMIN_TOKEN", "SECRETS_KEY"] as const) {
      if (!vars[key]) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message:
            key === "ADMIN_TOKEN"
              ? "is required with DATABASE_URL; create one with `openssl rand -hex 24`"
              : "is required with DATABASE_URL; create one with `openssl rand -base64 32`",
        });
      }
    }
  });

export type Env = z.output<typeof envSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses an environment; throws a ConfigError whose message is one line per bad variable. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  // An empty variable means unset: `FOO= npm start` should not count as a value.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = envSchema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `${String(i.path[0] ?? "environment")} ${i.message}`);
  throw new ConfigError([...new Set(lines)].map((l) => `invalid configuration: ${l}`).join("\n"));
}

let current: Env | undefined;

/** The process configuration (parsed on first use). */
export function env(): Env {
  current ??= parseEnv(process.env);
  return current;
}

/** Replaces the process configuration (start-up, after filling generated secrets; tests). */
export function setEnv(next: Env): Env {
  current = next;
  return next;
}
