/**
 * process: with calsync's worker running (WORKER_CONCURRENCY 4 and 8, in the same process as the
 * HTTP app, as `calsync serve` runs them):
 *
 * - drain: a backlog of signed BOOKING_CREATED deliveries (ingested with the worker stopped) is
 *   processed; jobs/s from the first job taken to the last one written back. Floor: graphile-worker
 *   running a no-op task over as many jobs, same concurrency and pool size.
 * - latency: deliveries posted at a steady rate; webhook-to-processed latency from the rows
 *   (received_at → processed_at). Floor: jobs added at the same rate to the no-op worker, whose
 *   latency is add_job → task start (what the queue alone costs). Three rounds, calsync and the
 *   floor alternating; each figure is the median over rounds.
 *
 * Every run starts from an empty inbox, bookings and queue, warms up and ANALYZEs.
 */
import type pg from "pg";
import { Child } from "./lib/child.ts";
import { benchPool, freshDatabase, resetInbox } from "./lib/db.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "./lib/env.ts";
import type { DrainResult } from "./lib/jobs.ts";
import { atRate, closedLoop, openLoop } from "./lib/load.ts";
import type { Row, SectionContext } from "./lib/report.ts";
import { median, percentile } from "./lib/stats.ts";
import { bookingShots, webhookTarget } from "./lib/webhooks.ts";

const CONCURRENCIES = [4, 8] as const;
/** Deliveries per second in the latency runs (issue 13's target: p50 < 25 ms, p99 < 100 ms at 200/s). */
const RATE = Number(process.env["BENCH_PROCESS_RATE"] ?? 200);
/** Latency rounds per concurrency (calsync and floor alternating); each figure is their median. */
const LATENCY_ROUNDS = 3;

export async function processing(ctx: SectionContext): Promise<Row[]> {
  const drainN = ctx.n(2_000);
  const latencyN = ctx.n(600);
  /** The no-op floor's latency hardly varies: fewer jobs suffice. */
  const floorLatencyN = ctx.n(200);
  const warmN = ctx.n(100);
  const database = await freshDatabase(ctx.server, "process");
  const pool = benchPool(database.url, 8);
  let app: Child<{ origin: string }> | undefined;
  let noop: Child | undefined;
  const rows: Row[] = [];
  try {
    useDatabase(database.url);
    const target = await webhookTarget();
    await releaseDatabase();
    app = await Child.start<{ origin: string }>("calsync.ts", {
      env: calsyncEnv(database.url),
      cpuProfDir: ctx.cpuProfDir ? `${ctx.cpuProfDir}/process` : undefined,
    });
    noop = await Child.start("noop-worker.ts", { env: { DATABASE_URL: database.url } });
    const origin = app.info.origin;

    for (const c of CONCURRENCIES) {
      // Drain a backlog.
      await resetInbox(pool);
      const backlog = bookingShots(target, `drain${c}`, drainN);
      await post(() => closedLoop({ origin, concurrency: 64, shots: backlog, expect: 202 }), drainN);
      await pool.query("ANALYZE");
      const appCpu = await app.cpuMs();
      const drained = await app.call<DrainResult>("drain", c, drainN);
      const cpuPerJob = ((await app.cpuMs()) - appCpu) / drainN;
      await app.call("stopWorker");
      await expectProcessed(pool, `drain${c}`, drainN);
      const drainRate = drainN / (drained.elapsedMs / 1000);

      await resetInbox(pool);
      await pool.query(`SELECT graphile_worker.add_job('bench_noop', json_build_object('t', 0)) FROM generate_series(1, $1)`, [drainN]);
      await pool.query("ANALYZE");
      const noopCpu = await noop.cpuMs();
      const floorDrained = await noop.call<DrainResult>("drain", c, drainN);
      const floorCpuPerJob = ((await noop.cpuMs()) - noopCpu) / drainN;
      await noop.call("stopWorker");
      const floorDrainRate = drainN / (floorDrained.elapsedMs / 1000);
      ctx.log(
        `  process c=${c} drain: calsync ${drainRate.toFixed(0)} jobs/s (${drained.errors} errors, ${cpuPerJob.toFixed(2)} ms CPU/job), ` +
          `no-op floor ${floorDrainRate.toFixed(0)} jobs/s (${floorCpuPerJob.toFixed(2)} ms CPU/job)`,
      );

      // Latency at a steady rate: LATENCY_ROUNDS rounds, calsync and the floor alternating, each
      // figure the median over rounds (as ingest does). One round's p99 is the 6th-slowest of 600
      // deliveries, so a single pause of the machine (another database's checkpoint writing every
      // dirty buffer at once, say) decided the whole figure; alternating gives both sides the
      // same chances of meeting one.
      const rounds: { lat: Latencies; floorP50: number; floorP99: number }[] = [];
      for (let r = 0; r < LATENCY_ROUNDS; r++) {
        await resetInbox(pool);
        await app.call("startWorker", c);
        await post(() => openLoop({ origin, rate: RATE, shots: bookingShots(target, `warm${c}r${r}`, warmN), expect: 202 }), warmN);
        await waitProcessed(pool, `warm${c}r${r}`, warmN);
        await pool.query("ANALYZE");
        const shots = bookingShots(target, `lat${c}r${r}`, latencyN);
        await post(() => openLoop({ origin, rate: RATE, shots, expect: 202 }), latencyN);
        await waitProcessed(pool, `lat${c}r${r}`, latencyN);
        await app.call("stopWorker");
        const lat = await processingLatencies(pool, `lat${c}r${r}`);

        await resetInbox(pool);
        await noop.call("startWorker", c);
        const add = (t: () => number) => () => pool.query(`SELECT graphile_worker.add_job('bench_noop', json_build_object('t', $1::bigint))`, [t()]);
        await atRate(RATE, warmN, add(() => 0));
        await pool.query("ANALYZE");
        await atRate(RATE, floorLatencyN, add(() => Date.now()));
        const floorLat = await noop.call<number[]>("latencies", warmN + floorLatencyN);
        await noop.call("stopWorker");
        const round = { lat, floorP50: percentile(floorLat, 50), floorP99: percentile(floorLat, 99) };
        rounds.push(round);
        ctx.log(
          `  process c=${c} at ${RATE}/s, round ${r + 1}: calsync p50 ${lat.p50.toFixed(0)} ms, p99 ${lat.p99.toFixed(0)} ms, ${lat.perSecond.toFixed(0)} jobs/s; ` +
            `no-op floor p50 ${round.floorP50.toFixed(0)} ms, p99 ${round.floorP99.toFixed(0)} ms`,
        );
      }
      const med = (f: (x: (typeof rounds)[number]) => number) => median(rounds.map(f));
      const runs = `median of ${LATENCY_ROUNDS} alternating rounds of ${latencyN.toLocaleString("en-US")}`;

      rows.push(
        { section: "process", metric: `jobs/s draining ${drainN.toLocaleString("en-US")}, c=${c}`, value: drainRate, floor: floorDrainRate, note: "floor: graphile-worker, no-op task" },
        { section: "process", metric: `worker CPU ms per job, c=${c}`, value: cpuPerJob, floor: floorCpuPerJob, note: "user+system of the worker process while draining" },
        { section: "process", metric: `webhook→processed p50 ms at ${RATE}/s, c=${c}`, value: med((x) => x.lat.p50), floor: med((x) => x.floorP50), note: `${runs}; floor: add_job → no-op task start, same rate` },
        { section: "process", metric: `webhook→processed p99 ms at ${RATE}/s, c=${c}`, value: med((x) => x.lat.p99), floor: med((x) => x.floorP99) },
        { section: "process", metric: `jobs/s at a steady ${RATE}/s, c=${c}`, value: med((x) => x.lat.perSecond), floor: RATE, note: "floor: the offered rate (1.00× = keeps up)" },
      );
    }
    return rows;
  } finally {
    await app?.stop();
    await noop?.stop();
    await pool.end();
    await database.drop();
  }
}

async function post(send: () => Promise<{ statuses: Record<number, number> }>, n: number): Promise<void> {
  const r = await send();
  if ((r.statuses[202] ?? 0) !== n) throw new Error(`process: ${r.statuses[202] ?? 0} of ${n} deliveries accepted; ${JSON.stringify(r.statuses)}`);
}

const BY_LABEL = "payload->'payload'->>'uid' LIKE $1";

async function counts(pool: pg.Pool, label: string): Promise<{ done: number; failed: number }> {
  const { rows } = await pool.query<{ done: number; failed: number }>(
    `SELECT count(*) FILTER (WHERE status = 'PROCESSED')::int AS done, count(*) FILTER (WHERE attempts > 0 AND status <> 'PROCESSED')::int AS failed
       FROM webhook_events WHERE ${BY_LABEL}`,
    [`bk\\_${label}\\_%`],
  );
  return rows[0]!;
}

async function expectProcessed(pool: pg.Pool, label: string, n: number): Promise<void> {
  const { done, failed } = await counts(pool, label);
  if (done !== n || failed) throw new Error(`process: ${done} of ${n} events processed, ${failed} failed (${label})`);
}

async function waitProcessed(pool: pg.Pool, label: string, n: number, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { done, failed } = await counts(pool, label);
    if (failed) throw new Error(`process: ${failed} events failed (${label})`);
    if (done >= n) return;
    if (Date.now() > deadline) throw new Error(`process: only ${done} of ${n} events processed after ${timeoutMs} ms (${label})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Latencies {
  p50: number;
  p99: number;
  perSecond: number;
}

async function processingLatencies(pool: pg.Pool, label: string): Promise<Latencies> {
  const { rows } = await pool.query<{ ms: number; received: Date; processed: Date }>(
    `SELECT (extract(epoch FROM processed_at - received_at) * 1000)::float8 AS ms, received_at AS received, processed_at AS processed
       FROM webhook_events WHERE ${BY_LABEL}`,
    [`bk\\_${label}\\_%`],
  );
  const ms = rows.map((r) => r.ms);
  const first = Math.min(...rows.map((r) => r.received.getTime()));
  const last = Math.max(...rows.map((r) => r.processed.getTime()));
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), perSecond: rows.length / ((last - first) / 1000) };
}

