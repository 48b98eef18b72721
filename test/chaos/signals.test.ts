/**
 * Signals as users send them (issue 8): `npm start` (embedded PostgreSQL, its own DATA_DIR) stopped
 * the way a supervisor does (SIGTERM to the npm process alone) and the way a person does (Ctrl-C:
 * SIGINT to the whole foreground process group). Everything it started (npm, node and
 * PostgreSQL) is gone within 10 s, and a Ctrl-C logs no warning or error. And when calsync is
 * killed (SIGKILL, no handler runs), its PostgreSQL does not outlive it, and the next start
 * replaces a PostgreSQL some killed calsync left running.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded.ts";

// Real processes, and a fresh embedded PostgreSQL per test (initdb): slow on a busy 2-core CI.
vi.setConfig({ testTimeout: 180_000 });

const started: { dataDir: string; pids: () => number[] }[] = [];
afterEach(() => {
  for (const s of started.splice(0)) {
    for (const pid of s.pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    rmSync(s.dataDir, { recursive: true, force: true });
  }
});

/** Parent pid of a process, from /proc (null once it is gone). */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** The process and all its descendants now alive. */
function tree(root: number): number[] {
  const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  const found = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const pid of all) {
      const ppid = parentOf(pid);
      if (!found.has(pid) && ppid !== null && found.has(ppid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found].filter((pid) => parentOf(pid) !== null);
}

const alive = (pid: number) => parentOf(pid) !== null && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");

/** `npm start` in its own process group (as a terminal runs it), ready once it prints its URLs. */
async function npmStart(dataDir = mkdtempSync(join(tmpdir(), "calsync-signals-"))) {
  // No DATABASE_URL: the zero-config path with its embedded PostgreSQL.
  const { DATABASE_URL: _url, ADMIN_TOKEN: _admin, SECRETS_KEY: _key, ...inherited } = process.env;
  const child = spawn("npm", ["start"], {
    detached: true,
    env: {
      ...inherited,
      DATA_DIR: dataDir,
      PORT: "0",
      LOG_LEVEL: "info",
      OTEL_TRACES_EXPORTER: "none",
      OTEL_METRICS_EXPORTER: "none",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let pids: number[] = [];
  started.push({ dataDir, pids: () => pids });
  await new Promise<void>((resolve, reject) => {
    const take = (d: Buffer) => {
      out += d;
      if (out.includes("calsync ready")) resolve();
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", take);
    child.once("exit", () => reject(new Error(`npm start exited early:\n${out}`)));
  });
  pids = tree(child.pid!);
  const command = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  const node = pids.find((pid) => command(pid).includes("src/cli.ts"))!;
  const postmaster = Number(readFileSync(join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n")[0]);
  return { child, output: () => out, pids, node, postmaster, dataDir };
}

/** Waits until none of the processes is alive (at most 20 s); returns those still alive. */
async function allGone(pids: number[]): Promise<number[]> {
  const until = Date.now() + 20_000;
  while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(alive);
}

describe("npm start", () => {
  it("SIGTERM to the npm process alone stops npm, node and PostgreSQL within 10 s", async () => {
    const { child, output, pids } = await npmStart();
    const commands = pids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "));
    expect(commands.some((c) => c.includes("postgres"))).toBe(true);
    expect(commands.some((c) => c.includes("src/cli.ts"))).toBe(true);

    const signalledAt = Date.now();
    child.kill("SIGTERM");
    expect(await allGone(pids)).toEqual([]);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(output()).toContain('"msg":"shutting down"');
  });

  it("Ctrl-C (SIGINT to the process group) stops everything and logs no warning or error", async () => {
    const { child, output, pids } = await npmStart();
    const signalledAt = Date.now();
    process.kill(-child.pid!, "SIGINT");
    expect(await allGone(pids)).toEqual([]);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    const lines = output()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.filter((l) => l.level === "warn" || l.level === "error" || l.level === "fatal")).toEqual([]);
    expect(lines.some((l) => l.msg === "shutting down")).toBe(true);
  });

  it("SIGKILL to node takes its PostgreSQL down too, and the next start on the DATA_DIR is clean", async () => {
    const first = await npmStart();
    expect(alive(first.postmaster)).toBe(true);
    process.kill(first.node, "SIGKILL");
    // No handler runs in node: the kernel's parent-death signal stops the postmaster.
    expect(await allGone(first.pids.filter((pid) => pid !== first.child.pid))).toEqual([]);

    const second = await npmStart(first.dataDir);
    expect(second.postmaster).not.toBe(first.postmaster);
    process.kill(second.child.pid!, "SIGTERM");
    expect(await allGone(second.pids)).toEqual([]);
  });

  it("the next start stops a PostgreSQL that a killed calsync left running, and starts its own", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "calsync-signals-"));
    chmodSync(dataDir, 0o755);
    // The orphan: a postmaster on the DATA_DIR whose published owner is a process that is gone
    // (as after SIGKILL where no parent-death signal exists).
    const orphan = await startEmbeddedPostgres({ dataDir });
    const orphanPid = orphan.pid;
    started.push({ dataDir, pids: () => [orphanPid] });
    const gone = spawnSync("true").pid!;
    writeFileSync(
      join(dataDir, "embedded-db.json"),
      JSON.stringify({ url: orphan.url, pid: gone, postmasterPid: orphanPid, startedAt: new Date().toISOString() }),
      { mode: 0o600 },
    );

    const next = await npmStart(dataDir);
    await orphan.exited; // stopped by the new start (it is this test's child, so the event comes here)
    await orphan.stop(); // nothing left to stop: returns at once
    expect(next.postmaster).not.toBe(orphanPid);
    expect(next.output()).toContain("stopping the embedded PostgreSQL left running by a calsync process that is gone");
    process.kill(next.child.pid!, "SIGTERM");
    expect(await allGone(next.pids)).toEqual([]);
  });
});
