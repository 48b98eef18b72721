/**
 * ingest: signed webhooks/s accepted (202, committed, enqueued) and p99 latency at 64 concurrent
 * connections, calsync without its worker (jobs just queue), against two floors on the same
 * database: a bare node:http receiver doing HMAC + INSERT + add_job in one transaction (naive) and
 * the INSERT alone (storage). Runs alternate (calsync, calsync+OTel, naive, storage in each round); each
 * figure is the median over rounds. Every run starts from an empty inbox and job queue, warms up,
 * ANALYZEs (a fresh job queue's statistics slow add_job down otherwise), then is timed.
 * After each timed run, the same server takes 1,500 more at 8 connections: the floor's own p99
 * there, beside the absolute 20 ms target (measured for calsync in e2e.ts too).
 * Each round also runs calsync with OpenTelemetry tracing on (`--import ./otel/register.ts`, as
 * `npm start` does, with no exporter configured).
 */
import type pg from "pg";
import { benchPool, freshDatabase, resetInbox } from "./lib/db.ts";
import { Child } from "./lib/child.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "./lib/env.ts";
import { closedLoop, type Shot } from "./lib/load.ts";
import type { Row, SectionContext } from "./lib/report.ts";
import { median, percentile } from "./lib/stats.ts";
import { bookingShots, webhookTarget } from "./lib/webhooks.ts";

const CONCURRENCY = 64;
const TABLE = "bench_webhook_events";

interface RunFigures {
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU the server process used per accepted delivery, ms (its event loop is one core). */
  cpuPerRequest: number;
  /** p99 at 8 connections, ms (the c=8 target is absolute: this shows the floor's own). */
  p99c8: number;
}

type Variant = "calsync" | "naive" | "storage" | "calsync+otel";

export async function ingest(ctx: SectionContext): Promise<Row[]> {
  const count = ctx.n(3_000);
  const warm = ctx.n(300);
  const rounds = ctx.quick ? 2 : 3;
  const database = await freshDatabase(ctx.server, "ingest");
  const pool = benchPool(database.url);
  const children: Partial<Record<Variant, Child<{ origin: string }>>> = {};
  try {
    useDatabase(database.url);
    const target = await webhookTarget();
    await releaseDatabase();
    await pool.query(`CREATE TABLE ${TABLE} (LIKE webhook_events INCLUDING ALL)`);
    const warmShots = bookingShots(target, "warm", warm);
    const shots = bookingShots(target, "run", count);
    const c8Shots = bookingShots(target, "c8", ctx.n(1_500));

    const start = (variant: Variant) => {
      const floorEnv = { DATABASE_URL: database.url, BENCH_SECRET: target.secret, BENCH_COMPANY_ID: target.companyId, BENCH_TABLE: TABLE };
      const cpuProfDir = ctx.cpuProfDir ? `${ctx.cpuProfDir}/ingest-${variant.replace("+", "-")}` : undefined;
      if (variant === "naive" || variant === "storage") return Child.start<{ origin: string }>("naive.ts", { env: floorEnv, args: [variant], cpuProfDir });
      return Child.start<{ origin: string }>("calsync.ts", {
        env: calsyncEnv(database.url),
        execArgv: variant === "calsync+otel" ? ["--import", "./otel/register.ts"] : [],
        cpuProfDir,
      });
    };
    const runOnce = async (variant: Variant): Promise<RunFigures> => {
      const child = (children[variant] ??= await start(variant));
      await resetInbox(pool, [TABLE]);
      await load(child.info.origin, warmShots);
      await pool.query("ANALYZE");
      const cpuBefore = await child.cpuMs();
      const timed = await load(child.info.origin, shots);
      const cpuPerRequest = ((await child.cpuMs()) - cpuBefore) / count;
      await checkStored(pool, variant, count, warm);
      const c8 = await closedLoop({ origin: child.info.origin, concurrency: 8, shots: c8Shots, expect: 202 });
      if ((c8.statuses[202] ?? 0) !== c8Shots.length) throw new Error(`ingest ${variant} c=8: statuses ${JSON.stringify(c8.statuses)}`);
      const figures = { ...timed, cpuPerRequest, p99c8: percentile(c8.latenciesMs, 99) };
      ctx.log(
        `  ingest ${variant}: ${figures.perSecond.toFixed(0)}/s, p50 ${figures.p50.toFixed(1)} ms, p99 ${figures.p99.toFixed(1)} ms, ` +
          `server CPU ${figures.cpuPerRequest.toFixed(2)} ms/delivery; c=8 p99 ${figures.p99c8.toFixed(1)} ms`,
      );
      return figures;
    };

    const results: Record<Variant, RunFigures[]> = { calsync: [], naive: [], storage: [], "calsync+otel": [] };
    for (let round = 0; round < rounds; round++) {
      for (const variant of ["calsync", "calsync+otel", "naive", "storage"] as const) results[variant].push(await runOnce(variant));
    }

    const med = (v: Variant, k: keyof RunFigures) => median(results[v].map((r) => r[k]));
    const runs = `median of ${rounds} alternating runs of ${count.toLocaleString("en-US")}`;
    return [
      { section: "ingest", metric: "webhooks/s accepted, c=64 (vs naive)", value: med("calsync", "perSecond"), floor: med("naive", "perSecond"), note: `${runs}; floor: node:http + HMAC + INSERT + add_job` },
      { section: "ingest", metric: "webhooks/s accepted, c=64 (vs storage)", value: med("calsync", "perSecond"), floor: med("storage", "perSecond"), note: "floor: the INSERT alone" },
      { section: "ingest", metric: "p50 latency ms (vs naive)", value: med("calsync", "p50"), floor: med("naive", "p50") },
      { section: "ingest", metric: "p99 latency ms (vs naive)", value: med("calsync", "p99"), floor: med("naive", "p99") },
      { section: "ingest", metric: "p99 latency ms (vs storage)", value: med("calsync", "p99"), floor: med("storage", "p99") },
      { section: "ingest", metric: "p99 latency ms at c=8 (vs naive)", value: med("calsync", "p99c8"), floor: med("naive", "p99c8"), note: `${c8Shots.length.toLocaleString("en-US")} deliveries after each run; the floor's own p99 beside the 20 ms target` },
      { section: "ingest", metric: "server CPU ms per delivery (vs naive)", value: med("calsync", "cpuPerRequest"), floor: med("naive", "cpuPerRequest"), note: "user+system of the server process over the timed run" },
      { section: "ingest", metric: "webhooks/s with OTel tracing (vs without)", value: med("calsync+otel", "perSecond"), floor: med("calsync", "perSecond"), note: "--import ./otel/register.ts, no exporter" },
      { section: "ingest", metric: "p99 ms with OTel tracing (vs without)", value: med("calsync+otel", "p99"), floor: med("calsync", "p99") },
      { section: "ingest", metric: "server CPU ms per delivery with OTel (vs without)", value: med("calsync+otel", "cpuPerRequest"), floor: med("calsync", "cpuPerRequest") },
    ];
  } finally {
    for (const child of Object.values(children)) await child.stop();
    await pool.end();
    await database.drop();
  }
}

async function load(origin: string, shots: readonly Shot[]): Promise<Omit<RunFigures, "cpuPerRequest" | "p99c8">> {
  const r = await closedLoop({ origin, concurrency: CONCURRENCY, shots, expect: 202 });
  const accepted = r.statuses[202] ?? 0;
  if (accepted !== shots.length) throw new Error(`ingest: ${accepted} of ${shots.length} accepted; statuses ${JSON.stringify(r.statuses)}`);
  return { perSecond: accepted / (r.elapsedMs / 1000), p50: percentile(r.latenciesMs, 50), p99: percentile(r.latenciesMs, 99) };
}

/** Every 202 was committed: the rows (and for calsync and naive, their jobs) are there. */
async function checkStored(pool: pg.Pool, variant: Variant, count: number, warm: number): Promise<void> {
  const table = variant.startsWith("calsync") ? "webhook_events" : TABLE;
  const { rows } = await pool.query<{ events: number; jobs: number }>(
    `SELECT (SELECT count(*)::int FROM ${table} WHERE payload->'payload'->>'uid' LIKE 'bk_run_%') AS events,
            (SELECT count(*)::int FROM graphile_worker._private_jobs) AS jobs`,
  );
  const { events, jobs } = rows[0]!;
  if (events !== count || jobs !== (variant === "storage" ? 0 : count + warm)) {
    throw new Error(`ingest ${variant}: ${events} rows and ${jobs} jobs stored for ${count} accepted deliveries`);
  }
}
