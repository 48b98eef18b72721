/**
 * e2e: the highest steady webhook rate at which calsync, API and worker in one process (as
 * `calsync serve` runs them, WORKER_CONCURRENCY 4), keeps its backlog flat, against the naive
 * floor (bare node:http + HMAC + INSERT + add_job) with a no-op graphile-worker task in the same
 * process, at the same concurrency and pool size.
 *
 * A rate is held when, for the whole probe, every delivery got 202, the sender kept the rate
 * (within 5 %), and the backlog (calsync: events still RECEIVED; floor: jobs not yet done) did not
 * grow: its least-squares slope over the probe after a 3 s warm-up is under 5 % of the rate and it
 * ends under half a second's worth of deliveries. The search: rates ×1.5 from 100/s until one fails,
 * two bisections between the last held and the first failed rate (short probes), then the found
 * rate held for 60 s (BENCH_QUICK: 20 s), stepping down 10 % (three times at most) if it does not
 * hold, then down the rates the short probes held, so a figure of 0 means no rate held at all.
 *
 * The holds are what the short probes are not: a 60-s hold at 465/s leaves ~28,000 processed
 * events and as many deleted jobs behind, unvacuumed (autovacuum wakes once a minute; the bench
 * vacuums between probes only), and every index scan that starts at the old end of a queue index
 * walks their dead entries. So the backlog is sampled once a second, by an index whose dead
 * entries stay few (calsync: the partial index of RECEIVED events, ~280 buffers after 28,000
 * deliveries, where `WHERE status = 'RECEIVED'` alone went through the status index, 5,600
 * buffers, 85 ms, twice a second: the sampler itself grew into a load on the saturated machine).
 *
 * Also: ingest p99 at 8 connections (worker stopped), one of the targets.
 */
import type pg from "pg";
import { Child } from "./lib/child.ts";
import { benchPool, freshDatabase, resetInbox } from "./lib/db.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "./lib/env.ts";
import { closedLoop, openLoop } from "./lib/load.ts";
import type { Row, SectionContext } from "./lib/report.ts";
import { percentile } from "./lib/stats.ts";
import { bookingShots, webhookTarget, type WebhookTarget } from "./lib/webhooks.ts";

const TABLE = "bench_webhook_events";
const CONCURRENCY = 4;
/** Backlog sampling period (each sample is a count query on the database under test). */
const SAMPLE_MS = 1_000;

interface Probe {
  rate: number;
  held: boolean;
  slope: number;
  endBacklog: number;
  achieved: number;
  non202: number;
}

interface System {
  name: "calsync" | "floor";
  origin: string;
  backlog: () => Promise<number>;
}

export async function e2e(ctx: SectionContext): Promise<Row[]> {
  const probeS = ctx.quick ? 8 : 12;
  const holdS = ctx.quick ? 20 : 60;
  const database = await freshDatabase(ctx.server, "e2e");
  const pool = benchPool(database.url, 4);
  let app: Child<{ origin: string }> | undefined;
  let floor: Child<{ origin: string }> | undefined;
  let label = 0;
  try {
    useDatabase(database.url);
    const target = await webhookTarget();
    await releaseDatabase();
    await pool.query(`CREATE TABLE ${TABLE} (LIKE webhook_events INCLUDING ALL)`);
    app = await Child.start<{ origin: string }>("calsync.ts", {
      env: calsyncEnv(database.url),
      cpuProfDir: ctx.cpuProfDir ? `${ctx.cpuProfDir}/e2e-calsync` : undefined,
    });

    // Ingest p99 at 8 connections, worker stopped (the inbox alone).
    await resetInbox(pool, [TABLE]);
    const c8n = ctx.n(3_000);
    await closedLoop({ origin: app.info.origin, concurrency: 8, shots: bookingShots(target, "c8warm", ctx.n(500)), expect: 202 });
    const c8 = await closedLoop({ origin: app.info.origin, concurrency: 8, shots: bookingShots(target, "c8", c8n), expect: 202 });
    const c8p99 = percentile(c8.latenciesMs, 99);
    ctx.log(`  e2e ingest c=8: p99 ${c8p99.toFixed(1)} ms, ${(c8n / (c8.elapsedMs / 1000)).toFixed(0)}/s`);

    await app.call("startWorker", CONCURRENCY);
    const calsync: System = {
      name: "calsync",
      origin: app.info.origin,
      // All deliveries are the target company's: its partial index of RECEIVED events counts them.
      backlog: async () =>
        count(pool, "SELECT count(*)::int AS n FROM webhook_events WHERE company_id = $1::uuid AND status = 'RECEIVED'", [target.companyId]),
    };
    const calsyncRate = await highestFlatRate(ctx, calsync, target, pool, probeS, holdS, () => `c${++label}`);
    await app.call("stopWorker");
    await app.stop();
    app = undefined;

    floor = await Child.start<{ origin: string }>("naive.ts", {
      env: {
        DATABASE_URL: database.url, BENCH_SECRET: target.secret, BENCH_COMPANY_ID: target.companyId, BENCH_TABLE: TABLE,
        BENCH_NOOP_CONCURRENCY: String(CONCURRENCY),
      },
      args: ["naive"],
    });
    const floorSystem: System = {
      name: "floor",
      origin: floor.info.origin,
      backlog: async () => count(pool, "SELECT count(*)::int AS n FROM graphile_worker._private_jobs"),
    };
    const floorRate = await highestFlatRate(ctx, floorSystem, target, pool, probeS, holdS, () => `f${++label}`);

    return [
      {
        section: "e2e",
        metric: `highest steady webhooks/s with a flat backlog for ${holdS} s`,
        value: calsyncRate.rate,
        floor: floorRate.rate,
        note: `API + worker in one process, c=${CONCURRENCY}; floor: node:http + HMAC + INSERT + add_job, no-op worker; target ≥ 0.8×`,
      },
      { section: "e2e", metric: "ingest p99 ms at 8 connections", value: c8p99, floor: 20, note: "worker stopped; floor: the target (20 ms), ratio ≤ 1 meets it" },
    ];
  } finally {
    await app?.stop();
    await floor?.stop();
    await pool.end();
    await database.drop();
  }
}

async function count(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  return (await pool.query<{ n: number }>(sql, params)).rows[0]!.n;
}

async function highestFlatRate(
  ctx: SectionContext,
  system: System,
  target: WebhookTarget,
  pool: pg.Pool,
  probeS: number,
  holdS: number,
  nextLabel: () => string,
): Promise<Probe> {
  const probe = async (rate: number, seconds: number): Promise<Probe> => {
    await resetInbox(pool, [TABLE]);
    const shots = bookingShots(target, nextLabel(), Math.round(rate * seconds));
    const samples: [number, number][] = [];
    const started = performance.now();
    const state = { sampling: true };
    const sampler = (async () => {
      while (state.sampling) {
        samples.push([(performance.now() - started) / 1000, await system.backlog()]);
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
    })();
    const load = await openLoop({ origin: system.origin, rate, shots, expect: 202, sockets: 512 });
    state.sampling = false;
    await sampler;
    const endBacklog = await system.backlog();
    const window = samples.filter(([t]) => t >= 3);
    const slope = leastSquaresSlope(window);
    const achieved = shots.length / (load.elapsedMs / 1000);
    const non202 = shots.length - (load.statuses[202] ?? 0);
    const held = non202 === 0 && achieved >= rate * 0.95 && slope < rate * 0.05 && endBacklog < rate * 0.5;
    ctx.log(
      `  e2e ${system.name} ${rate}/s × ${seconds} s: ${held ? "held" : "NOT held"} (backlog slope ${slope.toFixed(1)}/s, end ${endBacklog}, ` +
        `answered ${achieved.toFixed(0)}/s, non-202 ${non202})`,
    );
    // Let the backlog drain before the next probe.
    for (let i = 0; i < 600 && (await system.backlog()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
    return { rate, held, slope, endBacklog, achieved, non202 };
  };

  let held: Probe | null = null;
  let failed: Probe | null = null;
  const heldRates: number[] = [];
  for (let rate = 100; rate <= 4_000; rate = Math.round(rate * 1.5)) {
    const p = await probe(rate, probeS);
    if (!p.held) {
      failed = p;
      break;
    }
    held = p;
    heldRates.push(p.rate);
  }
  if (held && failed) {
    for (let i = 0; i < 2; i++) {
      const mid = Math.round((held.rate + failed.rate) / 2);
      const p = await probe(mid, probeS);
      if (p.held) {
        held = p;
        heldRates.push(p.rate);
      } else failed = p;
    }
  }
  // The hold: the found rate, then 10 % lower at most three times, then each rate a short probe
  // held, highest first, so the figure is the highest rate seen to hold for the whole hold.
  const found = held?.rate ?? 50;
  const steps = [found, Math.round(found * 0.9), Math.round(found * 0.81), Math.round(found * 0.729)];
  const lower = heldRates.filter((r) => r < steps.at(-1)!).sort((a, b) => b - a);
  for (const rate of [...steps, ...lower]) {
    const p = await probe(rate, holdS);
    if (p.held) return p;
  }
  ctx.log(`  e2e ${system.name}: no rate held for ${holdS} s`);
  return { rate: 0, held: false, slope: 0, endBacklog: 0, achieved: 0, non202: 0 };
}

function leastSquaresSlope(points: [number, number][]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
