/**
 * The CLI beside a running server: `npm start` owns the embedded PostgreSQL of its DATA_DIR, and
 * every CLI command on the same DATA_DIR uses that database instead of failing on its lock. Each
 * command's result is on stdout (plain, or JSON with --json), its logs on stderr.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

// Real processes on a real embedded PostgreSQL: slow on a busy 2-core CI.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const dataDir = mkdtempSync(join(tmpdir(), "calsync-beside-"));
chmodSync(dataDir, 0o755);
const baseEnv = { PATH: process.env["PATH"], DATA_DIR: dataDir, LOG_LEVEL: "info" };

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function calsync(args: string[], env: Record<string, string | undefined> = baseEnv): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

let server: ChildProcessWithoutNullStreams;
let serverOut = "";
beforeAll(async () => {
  server = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "serve"], { env: { ...baseEnv, PORT: "0" } });
  server.stderr.on("data", (d) => (serverOut += d));
  await new Promise<void>((resolve, reject) => {
    server.stdout.on("data", (d) => {
      serverOut += d;
      if (serverOut.includes("GraphiQL:")) resolve();
    });
    server.once("exit", (code) => reject(new Error(`server exited early (${code}): ${serverOut}`)));
  });
});
afterAll(async () => {
  if (server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

const hasAnsi = (s: string) => s.includes("\u001b[");

describe("the CLI beside `calsync serve` on the same DATA_DIR", () => {
  it("publishes the embedded database's address in a file only its owner can read", () => {
    const file = join(dataDir, "embedded-db.json");
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("creates a company and a token: stdout holds the id, then only the token", async () => {
    const created = await calsync(["company", "create", "--name", "Beside Clinic", "--slug", "beside"]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(created.stdout).toBe(`${id}\n`);
    expect(Buffer.from(id, "base64").toString()).toMatch(/^Company:/);
    // The logs went to stderr, and say whose database this was.
    expect(created.stderr).toContain("using the embedded PostgreSQL of the calsync process running on this DATA_DIR");

    const token = await calsync(["token", "create", id]);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^csk_[A-Za-z0-9_-]+\n$/);
    // The server sees the company the CLI created, and accepts the token the CLI printed.
    const url = /GraphiQL:\s+(http:\/\/\S+)\/graphql/.exec(serverOut)![1]!;
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token.stdout.trim()}` },
      body: JSON.stringify({ query: "{ companies { edges { node { slug } } } }" }),
    });
    expect(await res.json()).toEqual({ data: { companies: { edges: [{ node: { slug: "beside" } }] } } });
  });

  it("prints JSON with --json (before or after the command), without colour, logs on stderr", async () => {
    for (const args of [["coverage", "--json"], ["--json", "coverage"]]) {
      const { code, stdout, stderr } = await calsync(args);
      expect(code).toBe(0);
      expect(hasAnsi(stdout)).toBe(false);
      const report = JSON.parse(stdout) as { totalCompanies: number; companies: { slug: string; coverage: { activeServices: number } }[] };
      expect(report.totalCompanies).toBe(1);
      expect(report.companies[0]).toMatchObject({ slug: "beside", coverage: { activeServices: 0 } });
      // Every stderr line is a JSON log line.
      for (const line of stderr.trim().split("\n")) expect(() => JSON.parse(line) as unknown).not.toThrow();
    }
    const table = await calsync(["coverage"]);
    expect(hasAnsi(table.stdout)).toBe(false);
    expect(table.stdout).toMatch(/beside\s+│\s+no\s+│\s+0\s+│.*no services/);
  });

  it("reports errors as JSON on stdout with --json, and exits non-zero", async () => {
    const { code, stdout } = await calsync(["--json", "sync", "Q29tcGFueTowMTkwYTBhMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDA="]);
    expect(code).not.toBe(0);
    expect(JSON.parse(stdout)).toEqual({ error: expect.stringContaining("no company with id") });
  });

  it("starts its own database once the server has stopped, and withdraws the address file", async () => {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
    expect(existsSync(join(dataDir, "embedded-db.json"))).toBe(false);
    const { code, stdout } = await calsync(["--json", "coverage"]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ totalCompanies: 1 });
    expect(existsSync(join(dataDir, "embedded-db.json"))).toBe(false);
  });

  it("says what to do when the data directory is held by a postgres nobody published", async () => {
    const busy = mkdtempSync(join(tmpdir(), "calsync-busy-"));
    mkdirSync(join(busy, "pg"));
    // A live pid in postmaster.pid: this test process stands in for a postgres started by hand.
    writeFileSync(join(busy, "pg", "postmaster.pid"), `${process.pid}\n${join(busy, "pg")}\n`);
    try {
      const { code, stderr, stdout } = await calsync(["coverage"], { ...baseEnv, DATA_DIR: busy });
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toContain(`is already running (postmaster pid ${process.pid})`);
      expect(stderr).toContain("DATABASE_URL");
    } finally {
      rmSync(busy, { recursive: true, force: true });
    }
  });
});
