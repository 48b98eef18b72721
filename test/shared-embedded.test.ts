/**
 * The record through which processes on one DATA_DIR share its embedded PostgreSQL
 * (src/db/shared-embedded.ts), in-process: stale and broken records, whose record it is, and the
 * refusal when the directory is held by a postmaster nobody published.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  SHARED_FILE,
  findSharedDatabase,
  publishSharedDatabase,
  runningPostmaster,
  withdrawSharedDatabase,
} from "../src/db/shared-embedded.ts";
import { parseEnv, setEnv } from "../src/config.ts";
import { boot } from "../src/runtime.ts";
import { emit, note, paint, table } from "../src/cli/output.ts";
import { renderGraphiqlPage } from "../src/http/graphiql.ts";

const dir = mkdtempSync(join(tmpdir(), "calsync-shared-"));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, SHARED_FILE);

/** A pid that is certainly not running: beyond the kernel's pid_max. */
const DEAD_PID = 2 ** 22 + 1;

describe("the shared embedded database record", () => {
  it("is written 0600 by its owner and found by no one else but another process", async () => {
    publishSharedDatabase(dir, inject("adminDatabaseUrl"));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // This process's own record is not "another process's database".
    expect(await findSharedDatabase(dir)).toBeNull();
    withdrawSharedDatabase(dir);
    expect(existsSync(file)).toBe(false);
    withdrawSharedDatabase(dir); // gone already: nothing to do
  });

  it("is used when a live process published a database that answers", async () => {
    writeFileSync(file, JSON.stringify({ url: inject("adminDatabaseUrl"), pid: process.ppid, startedAt: new Date().toISOString() }));
    expect(await findSharedDatabase(dir)).toMatchObject({ pid: process.ppid });
    // Someone else's record is left alone by withdraw.
    withdrawSharedDatabase(dir);
    expect(existsSync(file)).toBe(true);
    rmSync(file);
  });

  it("is removed when its owner is gone, or when it is not JSON", async () => {
    writeFileSync(file, JSON.stringify({ url: "postgres://postgres@127.0.0.1:1/none", pid: DEAD_PID, startedAt: "" }));
    expect(await findSharedDatabase(dir)).toBeNull();
    expect(existsSync(file)).toBe(false);
    writeFileSync(file, "{not json");
    expect(await findSharedDatabase(dir)).toBeNull();
    expect(existsSync(file)).toBe(false);
  });

  it("is ignored, but kept, while its live owner's database does not answer", async () => {
    writeFileSync(file, JSON.stringify({ url: "postgres://postgres@127.0.0.1:1/none", pid: process.ppid, startedAt: "" }));
    expect(await findSharedDatabase(dir)).toBeNull();
    expect(existsSync(file)).toBe(true);
    rmSync(file);
  });

  it("reads postmaster.pid only for a live postmaster", () => {
    const pg = join(dir, "pgtest");
    mkdirSync(pg, { recursive: true });
    expect(runningPostmaster(pg)).toBeNull();
    writeFileSync(join(pg, "postmaster.pid"), `${DEAD_PID}\n`);
    expect(runningPostmaster(pg)).toBeNull();
    writeFileSync(join(pg, "postmaster.pid"), `${process.pid}\n`);
    expect(runningPostmaster(pg)).toBe(process.pid);
  });

  it("makes start-up refuse, saying what to do, when a postgres nobody published holds the directory", async () => {
    const busy = join(dir, "busy");
    mkdirSync(join(busy, "pg"), { recursive: true });
    writeFileSync(join(busy, "pg", "postmaster.pid"), `${process.pid}\n`);
    setEnv(parseEnv({ DATA_DIR: busy, LOG_LEVEL: "silent" }));
    await expect(boot()).rejects.toThrow(/already running \(postmaster pid \d+\).*DATABASE_URL/);
  }, 20_000);
});

describe("CLI output helpers", () => {
  it("print JSON or the human form on stdout, colour only when allowed", () => {
    const written: string[] = [];
    const out = process.stdout.write;
    const err = process.stderr.write;
    process.stdout.write = ((c: string) => written.push(`out:${c}`) > 0) as typeof process.stdout.write;
    process.stderr.write = ((c: string) => written.push(`err:${c}`) > 0) as typeof process.stderr.write;
    try {
      emit({ json: true, colour: false }, { a: 1 }, () => "human");
      emit({ json: false, colour: false }, { a: 1 }, () => "human");
      note("a hint");
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    expect(written).toEqual(['out:{\n  "a": 1\n}\n', "out:human\n", "err:a hint\n"]);
    expect(paint({ json: false, colour: false }, "red", "x")).toBe("x");
    expect(paint({ json: false, colour: true }, "green", "x")).toBe("\u001b[32mx\u001b[39m");
    const t = table({ json: false, colour: false }, ["a"]);
    t.push(["1"]);
    expect(t.toString()).not.toContain("\u001b[");
    expect(table({ json: false, colour: true }, ["a"]).toString()).toContain("\u001b[");
  });
});

describe("the GraphiQL page", () => {
  it("escapes what it is given and names its local assets only", () => {
    const html = renderGraphiqlPage({ title: '<x> & "y"', defaultQuery: "</script><script>alert(1)</script>" });
    expect(html).toContain("<title>&#60;x&#62; &#38; &#34;y&#34;</title>");
    expect(html).not.toContain("<script>alert");
    expect(html).toContain('src="/graphiql/assets/graphiql.js"');
    expect(renderGraphiqlPage({})).toContain("<title>calsync GraphQL</title>");
  });
});
