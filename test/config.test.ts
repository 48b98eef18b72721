import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { ConfigError, parseEnv } from "../src/config.ts";

// These tests start real calsync processes (tsx compiles the app first): slow on a busy 2-core CI.
vi.setConfig({ testTimeout: 120_000 });

const KEY = Buffer.alloc(32, 1).toString("base64");

function errorOf(source: Record<string, string>): string {
  let caught: unknown;
  try {
    parseEnv(source);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  return (caught as Error).message;
}

describe("configuration", () => {
  it("needs nothing for the embedded default and applies the contract's defaults", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      HOST: "127.0.0.1",
      PORT: 4000,
      DATA_DIR: "./.data",
      CALCOM_API_URL: "https://api.cal.com",
      WEBHOOK_MAX_BYTES: 1_048_576,
      WORKER_CONCURRENCY: 4,
      SYNC_CRON: "*/15 * * * *",
      RECONCILE_CRON: "0 * * * *",
      RETENTION_CRON: "40 3 * * *",
      WEBHOOK_PAYLOAD_RETENTION_DAYS: 30,
      WEBHOOK_RETENTION_DAYS: 90,
      RUN_RETENTION_DAYS: 90,
      AUDIT_RETENTION_DAYS: 365,
      RETENTION_BATCH_SIZE: 500,
      LOG_LEVEL: "info",
    });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it("requires ADMIN_TOKEN and SECRETS_KEY with DATABASE_URL, naming each and the fix", () => {
    const message = errorOf({ DATABASE_URL: "postgres://u@h/db" });
    expect(message.split("\n")).toEqual([
      "invalid configuration: ADMIN_TOKEN is required with DATABASE_URL; create one with `openssl rand -hex 24`",
      "invalid configuration: SECRETS_KEY is required with DATABASE_URL; create one with `openssl rand -base64 32`",
    ]);
  });

  it.each([
    [{ PORT: "http" }, "PORT must be a port number"],
    [{ PORT: "70000" }, "PORT must be a port number"],
    [{ DATABASE_URL: "mysql://x", ADMIN_TOKEN: "a".repeat(24), SECRETS_KEY: KEY }, "DATABASE_URL must be a postgres://"],
    [{ SECRETS_KEY: "c2hvcnQ=" }, "SECRETS_KEY must be 32 random bytes in base64"],
    [{ ADMIN_TOKEN: "short" }, "ADMIN_TOKEN must be at least 24 characters"],
    [{ CALCOM_API_URL: "ftp://cal" }, "CALCOM_API_URL must be an http(s) URL"],
    [{ CALCOM_API_URL: "https://api.cal.com/v2" }, "CALCOM_API_URL must not end in /v2"],
    [{ WEBHOOK_MAX_BYTES: "12" }, "WEBHOOK_MAX_BYTES must be a byte count"],
    [{ WORKER_CONCURRENCY: "0" }, "WORKER_CONCURRENCY must be a whole number from 1 to 256"],
    [{ SYNC_CRON: "every minute" }, "SYNC_CRON must be a five-field cron expression"],
    [{ RECONCILE_CRON: "hourly" }, "RECONCILE_CRON must be a five-field cron expression"],
    [{ RETENTION_CRON: "* * *" }, "RETENTION_CRON must be a five-field cron expression"],
    [{ WEBHOOK_PAYLOAD_RETENTION_DAYS: "0" }, "WEBHOOK_PAYLOAD_RETENTION_DAYS must be a whole number of days"],
    [{ WEBHOOK_RETENTION_DAYS: "ninety" }, "WEBHOOK_RETENTION_DAYS must be a whole number of days"],
    [{ RUN_RETENTION_DAYS: "-1" }, "RUN_RETENTION_DAYS must be a whole number of days"],
    [{ AUDIT_RETENTION_DAYS: "1.5" }, "AUDIT_RETENTION_DAYS must be a whole number of days"],
    [{ RETENTION_BATCH_SIZE: "0" }, "RETENTION_BATCH_SIZE must be a whole number"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL must be one of"],
    [{ REDIS_URL: "localhost:6379" }, "REDIS_URL must be a redis://"],
  ])("rejects %o with one line naming the variable", (source, expected) => {
    const message = errorOf(source as Record<string, string>);
    expect(message.split("\n")).toHaveLength(1);
    expect(message).toContain(expected);
  });

  it("treats an empty variable as unset and trims a trailing slash from the Cal.com URL", () => {
    const env = parseEnv({ PORT: "", CALCOM_API_URL: "http://localhost:9999/" });
    expect(env.PORT).toBe(4000);
    expect(env.CALCOM_API_URL).toBe("http://localhost:9999");
  });

  it("stops `calsync serve` at start with that one line and a non-zero exit", async () => {
    const run = promisify(execFile)("npx", ["tsx", "src/cli.ts", "serve"], {
      env: { ...process.env, DATABASE_URL: "postgres://nobody@127.0.0.1:1/x", ADMIN_TOKEN: "", SECRETS_KEY: KEY },
    });
    const err = await run.then(
      () => {
        throw new Error("expected the process to fail");
      },
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    expect(err.code).toBe(78);
    expect(err.stderr.trim()).toBe(
      "invalid configuration: ADMIN_TOKEN is required with DATABASE_URL; create one with `openssl rand -hex 24`",
    );
  });
});
