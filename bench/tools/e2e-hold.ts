/**
 * Diagnoses one e2e hold: sends webhooks at a steady rate for a while (as bench/e2e.ts does) to
 * calsync (API + worker, c=4) or the naive floor, and prints, per window, where time goes: how far
 * the sender is behind its schedule, requests in flight, answer latency, the backlog, and CPU of
 * the system under test, of this (sending) process and of the database's backends.
 *
 * With calsync, each window also prints the buffers the batch claim and the backlog count touch
 * (load-independent), and the dead tuples of the inbox and the job table. PREFILL=n first leaves
 * the tables as n processed deliveries would (unvacuumed), to compare CPU per delivery with a
 * fresh database.
 *
 *   [PREFILL=28000] npx tsx bench/tools/e2e-hold.ts [calsync|floor] [rate=400] [seconds=60] [window=5]
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { benchServer, benchPool, freshDatabase, resetInbox } from "../lib/db.ts";
import { Child } from "../lib/child.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "../lib/env.ts";
import { LoadClient } from "../lib/load.ts";
import { percentile } from "../lib/stats.ts";
import { bookingShots, webhookTarget } from "../lib/webhooks.ts";

const [which = "calsync", rateArg = "400", secondsArg = "60", windowArg = "5"] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const windowS = Number(windowArg);
const TABLE = "bench_webhook_events";

const server = await benchServer();
const database = await freshDatabase(server, "e2ediag");
const pool = benchPool(database.url, 2);
let child: Child<{ origin: string }> | undefined;
try {
  useDatabase(database.url);
  const target = await webhookTarget();
  await releaseDatabase();
  await pool.query(`CREATE TABLE ${TABLE} (LIKE webhook_events INCLUDING ALL)`);
  let backlogSql: string;
  if (which === "calsync") {
    child = await Child.start<{ origin: string }>("calsync.ts", { env: calsyncEnv(database.url) });
    await child.call("startWorker", 4);
    backlogSql = `SELECT count(*)::int AS n FROM webhook_events WHERE company_id = '${target.companyId}' AND status = 'RECEIVED'`;
  } else {
    child = await Child.start<{ origin: string }>("naive.ts", {
      env: { DATABASE_URL: database.url, BENCH_SECRET: target.secret, BENCH_COMPANY_ID: target.companyId, BENCH_TABLE: TABLE, BENCH_NOOP_CONCURRENCY: "4" },
      args: ["naive"],
    });
    backlogSql = "SELECT count(*)::int AS n FROM graphile_worker._private_jobs";
  }
  if (!process.env["PREFILL"]) await resetInbox(pool, [TABLE]);
  const backlog = async () => (await pool.query<{ n: number }>(backlogSql)).rows[0]!.n;
  const dbName = new URL(database.url).pathname.slice(1);
  // Backends come and go (pool idle timeouts): remember each one's last CPU reading.
  const pgTicks = new Map<number, number>();
  const pgCpuMs = async () => {
    const { rows } = await pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1", [dbName]);
    for (const { pid } of rows) {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
        pgTicks.set(pid, Number(f[11]) + Number(f[12]));
      } catch {
        /* gone */
      }
    }
    return [...pgTicks.values()].reduce((a, b) => a + b, 0) * 10; // USER_HZ 100
  };
  const pgSampler = setInterval(() => void pgCpuMs(), 500);
  /** Buffers the processing path's and the bench's queries touch now (load-independent). */
  const explain = async () => {
    const q = async (sql: string, params: unknown[] = []) => {
      const { rows } = await pool.query<{ "QUERY PLAN": unknown }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params);
      const plan = (rows[0]!["QUERY PLAN"] as { Plan: Record<string, unknown>; "Execution Time": number }[])[0]!;
      const node = (p: Record<string, unknown>): string =>
        `${p["Node Type"]}${p["Index Name"] ? `(${p["Index Name"]})` : ""}${((p["Plans"] as Record<string, unknown>[] | undefined) ?? []).map((c) => `>${node(c)}`).join("")}`;
      return `${node(plan.Plan)} buf=${Number(plan.Plan["Shared Hit Blocks"]) + Number(plan.Plan["Shared Read Blocks"])} ${plan["Execution Time"].toFixed(2)}ms`;
    };
    const some = (await pool.query<{ id: string }>("SELECT id::text FROM webhook_events ORDER BY received_at DESC LIMIT 1")).rows[0]?.id ?? "00000000-0000-0000-0000-000000000000";
    const st = (await pool.query("SELECT n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'webhook_events'")).rows[0];
    const jb = (await pool.query("SELECT n_live_tup, n_dead_tup, autovacuum_count FROM pg_stat_all_tables WHERE relname = '_private_jobs'")).rows[0];
    console.log(
      `     siblings: ${await q(
        `SELECT id FROM webhook_events WHERE company_id = $1::uuid AND status = 'RECEIVED' AND id <> $2::uuid
            AND received_at >= (SELECT received_at FROM webhook_events WHERE id = $2::uuid) ORDER BY received_at, id LIMIT 49`,
        [target.companyId, some],
      )}`,
    );
    console.log(`     backlog:  ${await q(backlogSql)}`);
    console.log(`     rematch:  ${await q(`SELECT 1 FROM webhook_events WHERE status = 'UNMATCHED' AND (booking_uid = ANY($1::text[]) OR calcom_booking_id = ANY($2::int[])) LIMIT 1`, [["bk_d_1", "bk_d_2"], [100001, 100002]])}`);
    console.log(`     events ${JSON.stringify(st)} jobs ${JSON.stringify(jb)}`);
  };

  const prefill = Number(process.env["PREFILL"] ?? 0);
  if (prefill > 0 && which === "calsync") {
    // What n deliveries leave behind when processed: n PROCESSED events (each updated once, so n
    // dead tuples and index entries), n bookings, n jobs added and deleted. No VACUUM.
    const t = performance.now();
    await pool.query(
      `INSERT INTO webhook_events (id, company_id, trigger_event, status, correlation_id, body_sha256, payload, content_type, trace_carrier, booking_uid, calcom_booking_id, calcom_event_type_id)
       SELECT gen_random_uuid(), $1::uuid, 'BOOKING_CREATED', 'RECEIVED', gen_random_uuid()::text, md5(g::text) || md5((g+1)::text),
              jsonb_build_object('triggerEvent','BOOKING_CREATED','payload', jsonb_build_object('uid','pre_'||g,'pad', repeat('x', 1200))), 'application/json', '{}'::jsonb, 'pre_'||g, g, 1
         FROM generate_series(1, $2::int) g`,
      [target.companyId, prefill],
    );
    for (let i = 0; i < prefill; i += 2000) {
      await pool.query(
        `UPDATE webhook_events SET status = 'PROCESSED', processed_at = now(), attempts = 1
          WHERE id IN (SELECT id FROM webhook_events WHERE status = 'RECEIVED' ORDER BY received_at LIMIT 2000)`,
      );
    }
    await pool.query(
      `INSERT INTO bookings (id, uid, company_id, status, start_time, end_time, updated_at)
       SELECT gen_random_uuid(), 'pre_'||g, $1::uuid, 'ACCEPTED', now(), now() + interval '30 min', now() FROM generate_series(1, $2::int) g`,
      [target.companyId, prefill],
    );
    await pool.query(
      `SELECT graphile_worker.add_job('bench_none', json_build_object('i', g), run_at => now() + interval '1 day') FROM generate_series(1, $1::int) g`,
      [prefill],
    );
    await pool.query("DELETE FROM graphile_worker._private_jobs WHERE task_id = (SELECT id FROM graphile_worker._private_tasks WHERE identifier = 'bench_none')");
    console.log(`prefilled ${prefill} in ${(performance.now() - t).toFixed(0)} ms`);
  }

  const t0 = performance.now();
  const shots = bookingShots(target, "d", Math.round(rate * seconds));
  console.log(`built ${shots.length} shots in ${(performance.now() - t0).toFixed(0)} ms; heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB`);

  const client = new LoadClient(child.info.origin, 512);
  const lat: number[] = [];
  let sent = 0;
  let answered = 0;
  let non202 = 0;
  const pending: Promise<void>[] = [];
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  const started = performance.now();
  const firstChild = await child.cpuMs();
  const firstPg = await pgCpuMs();
  const firstSelf = process.cpuUsage().user + process.cpuUsage().system;
  let last = { t: 0, sent: 0, answered: 0, childCpu: await child.cpuMs(), selfCpu: process.cpuUsage(), pgCpu: await pgCpuMs() };
  console.log("   t    due   sent  behind inflight  ans/s  p50ms  p99ms backlog  sut-cpu%  gen-cpu%  pg-cpu%  gen-lag-p99ms  heapMB  load1");
  const report = async () => {
    const t = (performance.now() - started) / 1000;
    const childCpu = await child!.cpuMs();
    const selfCpu = process.cpuUsage();
    const pgCpu = await pgCpuMs();
    const dt = t - last.t;
    const w = lat.splice(0);
    const gen = (selfCpu.user + selfCpu.system - last.selfCpu.user - last.selfCpu.system) / 1000;
    const due = Math.min(shots.length, Math.floor(t * rate));
    console.log(
      [
        t.toFixed(0).padStart(4), String(due).padStart(6), String(sent).padStart(6), String(due - sent).padStart(7),
        String(sent - answered).padStart(8), ((answered - last.answered) / dt).toFixed(0).padStart(6),
        (w.length ? percentile(w, 50) : 0).toFixed(1).padStart(6), (w.length ? percentile(w, 99) : 0).toFixed(1).padStart(6),
        String(await backlog()).padStart(7), ((100 * (childCpu - last.childCpu)) / (dt * 1000)).toFixed(0).padStart(9),
        ((100 * gen) / (dt * 1000)).toFixed(0).padStart(9), ((100 * (pgCpu - last.pgCpu)) / (dt * 1000)).toFixed(0).padStart(8),
        (eld.percentile(99) / 1e6).toFixed(1).padStart(14), (process.memoryUsage().heapUsed / 1e6).toFixed(0).padStart(7),
        readFileSync("/proc/loadavg", "utf8").split(" ")[0]!.padStart(6),
      ].join(" "),
    );
    if (which === "calsync") await explain();
    eld.reset();
    last = { t, sent, answered, childCpu, selfCpu, pgCpu };
  };
  const timer = setInterval(() => void report(), windowS * 1000);
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(shots.length, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      while (sent < due) {
        const shot = shots[sent++]!;
        pending.push(
          client.send(shot).then((a) => {
            answered++;
            if (a.status === 202) lat.push(a.latencyMs);
            else non202++;
          }),
        );
      }
      if (sent >= shots.length) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(pending);
  clearInterval(timer);
  clearInterval(pgSampler);
  await report();
  const elapsed = (performance.now() - started) / 1000;
  const totalChild = await child.cpuMs();
  console.log(`per delivery: sut ${((totalChild - firstChild) / shots.length).toFixed(3)} ms CPU, pg ${((await pgCpuMs()) - firstPg) / shots.length} ms (bench pool incl.), gen ${((process.cpuUsage().user + process.cpuUsage().system - firstSelf) / 1000 / shots.length).toFixed(3)} ms`);
  console.log(`sent ${(shots.length / elapsed).toFixed(0)}/s over ${elapsed.toFixed(1)} s (rate ${rate}/s), non-202 ${non202}`);
  client.close();
} finally {
  await child?.stop();
  await pool.end();
  await database.drop();
  await server.stop();
}
