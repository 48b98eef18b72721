/**
 * memory: what one calsync process costs in RSS, against the bench's floor process in the same run.
 *
 *   calsync  the production command, exactly as the README gives it: one process,
 *            `node --import ./otel/register.ts src/cli.ts serve` (API + worker, OpenTelemetry
 *            tracing and metrics on, no exporter configured), on an external PostgreSQL
 *   floor    bench/children/naive.ts under the same node, no tsx: node:http + HMAC + one INSERT +
 *            graphile_worker.add_job per delivery, same pg pool size
 *
 * Figures: RSS idle after start-up (settled: a few samples after the first answer, the last one
 * taken), and RSS at the end of an ingest run of signed webhooks at 64 concurrent connections (the
 * same deliveries for both). Targets (issue "Lean processes"): idle at most 2.5× the floor, after
 * the ingest run at most 3×.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freshDatabase, benchPool, resetInbox } from "./lib/db.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "./lib/env.ts";
import { closedLoop } from "./lib/load.ts";
import type { Row, SectionContext } from "./lib/report.ts";
import { bookingShots, webhookTarget } from "./lib/webhooks.ts";

const CONCURRENCY = 64;
const TABLE = "bench_webhook_events";
const root = fileURLToPath(new URL("..", import.meta.url));

/** Resident set size of a process, MB (from /proc, so it reads any child, not only Node). */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** RSS once start-up has settled: samples every 500 ms until two in a row differ by under 1 MB. */
async function settledRss(pid: number): Promise<number> {
  let last = rssMb(pid);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = rssMb(pid);
    if (Math.abs(now - last) < 1 && i >= 3) return now;
    last = now;
  }
  return last;
}

interface Running {
  proc: ChildProcess;
  origin: string;
  stop(): Promise<void>;
}

/** `npm start`'s command (the production command the README gives), as argv after `node`. */
function productionArgs(): string[] {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { scripts: Record<string, string> };
  const [node, ...args] = pkg.scripts["start"]!.replace(/^exec /, "").split(/\s+/);
  if (node !== "node") throw new Error(`npm start does not run node directly: ${pkg.scripts["start"]}`);
  return args;
}

async function startCalsync(databaseUrl: string, args = productionArgs()): Promise<Running> {
  const proc = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", ...calsyncEnv(databaseUrl), PORT: "0", LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const origin = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /(?:GraphiQL|GraphQL):\s+(http:\/\/\S+)\/graphql/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once("exit", (code) => reject(new Error(`calsync exited (${code}) before it listened: ${out}`)));
    setTimeout(() => reject(new Error(`calsync did not print its URL within 60 s: ${out}`)), 60_000).unref();
  }).catch((err: Error) => {
    proc.kill("SIGKILL");
    throw err;
  });
  return {
    proc,
    origin,
    stop: async () => {
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      await once(proc, "exit");
    },
  };
}

async function startFloor(env: Record<string, string>): Promise<Running> {
  const proc = fork(fileURLToPath(new URL("./children/naive.ts", import.meta.url)), ["naive"], {
    execArgv: [],
    env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "/tmp", ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    proc.on("message", (m: { type: string; info?: { origin: string } }) => {
      if (m.type === "ready") resolve(m.info!.origin);
    });
    proc.once("exit", (code) => reject(new Error(`floor exited (${code}) before it was ready`)));
  });
  return {
    proc,
    origin,
    stop: async () => {
      if (proc.exitCode !== null) return;
      proc.send({ type: "call", id: 0, name: "__stop", args: [] });
      await once(proc, "exit");
    },
  };
}

export async function memory(ctx: SectionContext): Promise<Row[]> {
  const count = ctx.n(3_000);
  const database = await freshDatabase(ctx.server, "memory");
  const pool = benchPool(database.url);
  const running: Running[] = [];
  try {
    useDatabase(database.url);
    const target = await webhookTarget();
    await releaseDatabase();
    await pool.query(`CREATE TABLE ${TABLE} (LIKE webhook_events INCLUDING ALL)`);
    const shots = bookingShots(target, "mem", count);

    const measure = async (start: () => Promise<Running>, name: string) => {
      await resetInbox(pool, [TABLE]);
      const r = await start();
      running.push(r);
      const idle = await settledRss(r.proc.pid!);
      const result = await closedLoop({ origin: r.origin, concurrency: CONCURRENCY, shots, expect: 202 });
      const accepted = result.statuses[202] ?? 0;
      if (accepted !== count) throw new Error(`memory ${name}: ${accepted} of ${count} accepted; ${JSON.stringify(result.statuses)}`);
      const loaded = rssMb(r.proc.pid!);
      await r.stop();
      const perSecond = accepted / (result.elapsedMs / 1000);
      ctx.log(`  memory ${name}: idle ${idle.toFixed(0)} MB, after ${count} webhooks ${loaded.toFixed(0)} MB (${perSecond.toFixed(0)} accepted/s)`);
      return { idle, loaded };
    };

    const floor = await measure(
      () => startFloor({ DATABASE_URL: database.url, BENCH_SECRET: target.secret, BENCH_COMPANY_ID: target.companyId, BENCH_TABLE: TABLE }),
      "floor",
    );
    const calsync = await measure(() => startCalsync(database.url), "calsync");
    // The same without the young-generation cap, to show what it buys.
    const uncapped = productionArgs().filter((a) => !a.startsWith("--max-semi-space-size"));
    const plain = await measure(() => startCalsync(database.url, uncapped), "calsync, V8's default young generation");
    const command = `node ${productionArgs().join(" ")}`;
    return [
      { section: "memory", metric: "RSS MB idle after start-up (vs floor)", value: calsync.idle, floor: floor.idle, note: `\`${command}\`, tracing on; floor: bench/children/naive.ts; target ≤ 2.5×` },
      { section: "memory", metric: `RSS MB after ${count.toLocaleString("en-US")} webhooks at c=64 (vs floor)`, value: calsync.loaded, floor: floor.loaded, note: "calsync's worker processes them meanwhile; target ≤ 3×" },
      { section: "memory", metric: "RSS MB idle, without --max-semi-space-size (vs floor)", value: plain.idle, floor: floor.idle, note: "V8 sizes the young generation from the machine's memory" },
      { section: "memory", metric: `RSS MB after ${count.toLocaleString("en-US")} webhooks, without --max-semi-space-size (vs floor)`, value: plain.loaded, floor: floor.loaded },
    ];
  } finally {
    for (const r of running) await r.stop().catch(() => {});
    await pool.end();
    await database.drop();
  }
}
