/**
 * What ingest's slowest requests wait on. Runs ingest's timed load (closed loop, c connections, n
 * deliveries after a warm-up, as bench/ingest.ts does) against calsync (an instrumented child,
 * ingest-tail-child.ts) or the naive floor, and prints: p50/p99; for calsync, the slowest 1 %
 * split into time outside the server (socket + generator) and inside it, and the GC pauses and
 * event-loop stalls of the server during them; the ingest pool's wait and execution times; the
 * generator's own loop stalls.
 *
 *   npx tsx bench/tools/ingest-tail.ts [variants=calsync,naive] [c=64] [n=3000] [rounds=3]
 *
 * Variants alternate within each round (as bench/ingest.ts alternates): `naive`, `calsync`, or
 * `calsync:<inbox pool size>`, `base` (calsync from the worktree BASE_TREE, default tail-base), each
 * optionally with `~--flag+--flag` (node flags after npm start's); EXTRA_ARGV='--flag …' adds node
 * flags to every calsync variant; HEAP=1 prints what calsync allocated per delivery, by function
 * and by package (V8's sampling heap profiler, objects already collected included).
 */
import { PerformanceObserver } from "node:perf_hooks";
import { readFileSync } from "node:fs";
import { benchServer, benchPool, freshDatabase, resetInbox } from "../lib/db.ts";
import { Child, START_V8_FLAGS } from "../lib/child.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "../lib/env.ts";
import { LoadClient, type Shot } from "../lib/load.ts";
import { percentile } from "../lib/stats.ts";
import { bookingShots, webhookTarget } from "../lib/webhooks.ts";

const [whichArg = "calsync,naive", cArg = "64", nArg = "3000", roundsArg = "3"] = process.argv.slice(2);
const c = Number(cArg);
const n = Number(nArg);
const rounds = Number(roundsArg);
const TABLE = "bench_webhook_events";
const now = () => performance.timeOrigin + performance.now();

interface Dump {
  gcs: { t: number; d: number; kind: string }[];
  stalls: { t: number; gap: number }[];
  requests: Record<string, { arrive: number; finish: number }>;
  queries: { call: number; acquired: number; done: number }[];
}

const genStalls: { t: number; gap: number }[] = [];
let last = performance.now();
setInterval(() => {
  const p = performance.now();
  if (p - last > 6) genStalls.push({ t: performance.timeOrigin + last, gap: p - last });
  last = p;
}, 1).unref();
const genGcs: { t: number; d: number }[] = [];
new PerformanceObserver((l) => l.getEntries().forEach((e) => genGcs.push({ t: performance.timeOrigin + e.startTime, d: e.duration }))).observe({ entryTypes: ["gc"] });

const server = await benchServer();
const database = await freshDatabase(server, "ingtail");
const pool = benchPool(database.url, 2);
let child: Child<{ origin: string }> | undefined;
const children = new Map<string, Child<{ origin: string }>>();
try {
  useDatabase(database.url);
  const target = await webhookTarget();
  await releaseDatabase();
  await pool.query(`CREATE TABLE ${TABLE} (LIKE webhook_events INCLUDING ALL)`);
  const extra = (process.env["EXTRA_ARGV"] ?? "").split(/\s+/).filter(Boolean);
  const variants = whichArg.split(",");
  for (const v of variants) {
    const [spec, flags = ""] = v.split("~");
    const [kind, inboxMax] = spec!.split(":");
    // `base`: calsync as built from another worktree (BASE_TREE, e.g. one checked out at main), for A/B in one run.
    const script = kind === "base" ? `../../../${process.env["BASE_TREE"] ?? "tail-base"}/bench/tools/ingest-tail-child.ts` : "../tools/ingest-tail-child.ts";
    children.set(
      v,
      kind === "calsync" || kind === "base"
        ? await Child.start<{ origin: string }>(script, {
            env: { ...calsyncEnv(database.url), ...(inboxMax ? { INBOX_MAX: inboxMax } : {}) },
            execArgv: [...START_V8_FLAGS, ...extra, ...flags.split("+").filter(Boolean)],
          })
        : await Child.start<{ origin: string }>("naive.ts", {
            env: { DATABASE_URL: database.url, BENCH_SECRET: target.secret, BENCH_COMPANY_ID: target.companyId, BENCH_TABLE: TABLE },
            args: ["naive"],
          }),
    );
  }
  const summary = new Map<string, string[]>();
  const tag = (shots: Shot[], label: string) => shots.map((s, i) => ({ ...s, headers: { ...s.headers, "x-request-id": `${label}-${i}` } }));
  const run = async (shots: Shot[], conc: number) => {
    const client = new LoadClient(child!.info.origin, conc);
    const recs: { id: string; start: number; end: number; status: number }[] = [];
    let next = 0;
    const t0 = now();
    await Promise.all(
      Array.from({ length: conc }, async () => {
        while (next < shots.length) {
          const shot = shots[next++]!;
          const start = now();
          const a = await client.send(shot);
          recs.push({ id: shot.headers["x-request-id"]!, start, end: now(), status: a.status });
        }
      }),
    );
    client.close();
    return { recs, elapsed: now() - t0, t0 };
  };
  for (let round = 0; round < rounds; round++) for (const which of variants) {
    child = children.get(which)!;
    await resetInbox(pool, [TABLE]);
    await run(tag(bookingShots(target, `w${round}`, 300), `w${round}`), c);
    await pool.query("ANALYZE");
    if (!which.startsWith("naive")) await child.call("reset");
    genStalls.length = 0;
    genGcs.length = 0;
    const heap = process.env["HEAP"] && !which.startsWith("naive");
    if (heap) await child.call("heapStart");
    const cpu0 = await child.cpuMs();
    // What the database's active backends wait on, sampled every 10 ms during the timed run.
    const waits = new Map<string, number>();
    const longWaits: string[] = [];
    const objLocks = new Set<string>();
    const sampling = { on: true };
    const sampler = (async () => {
      const dbName = new URL(database.url).pathname.slice(1);
      while (sampling.on) {
        const { rows } = await pool.query<{ w: string; ms: number }>(
          `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS w, (extract(epoch FROM clock_timestamp() - query_start) * 1000)::float8 AS ms
             FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()`,
          [dbName],
        );
        if (objLocks.size < 5) {
          const l = await pool.query<{ k: string }>(
            `SELECT classid::regclass::text || ' ' || objid || ' ' || objsubid || ' ' || mode || ' ' || granted AS k FROM pg_locks WHERE locktype = 'object'`,
          );
          for (const r of l.rows) objLocks.add(r.k);
        }
        for (const r of rows) {
          waits.set(r.w, (waits.get(r.w) ?? 0) + 1);
          if (r.ms > 30) longWaits.push(`${r.w}@${r.ms.toFixed(0)}ms`);
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const { recs, elapsed, t0 } = await run(tag(bookingShots(target, `r${round}`, n), `r${round}`), c);
    sampling.on = false;
    await sampler;
    if (heap) {
      const h = await child.call<{ total: number; self: [string, number][]; onStack: [string, number][] }>("heapStop");
      console.log(`   allocated ${(h.total / n / 1024).toFixed(1)} KB per delivery (sampled); self, KB/delivery:`);
      for (const [k, v] of h.self) console.log(`     ${(v / n / 1024).toFixed(2).padStart(6)}  ${k}`);
      console.log("   on stack by file/package, KB/delivery:");
      for (const [k, v] of h.onStack) console.log(`     ${(v / n / 1024).toFixed(2).padStart(6)}  ${k}`);
    }
    const cpu = ((await child.cpuMs()) - cpu0) / n;
    const lat = recs.map((x) => x.end - x.start);
    const p99 = percentile(lat, 99);
    const bad = recs.filter((x) => x.status !== 202).length;
    summary.set(which, [...(summary.get(which) ?? []), `${(n / (elapsed / 1000)).toFixed(0)}/s p50 ${percentile(lat, 50).toFixed(0)} p99 ${p99.toFixed(0)}`]);
    console.log(
      `\n== round ${round} ${which} c=${c}: ${(n / (elapsed / 1000)).toFixed(0)}/s p50 ${percentile(lat, 50).toFixed(1)} p90 ${percentile(lat, 90).toFixed(1)} ` +
        `p99 ${p99.toFixed(1)} max ${Math.max(...lat).toFixed(1)} ms; CPU ${cpu.toFixed(2)} ms/delivery; non-202 ${bad}; load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]}`,
    );
    const tot = [...waits.values()].reduce((a, b) => a + b, 0);
    console.log(`   db backends (samples ${tot}): ${[...waits].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${k} ${((100 * v) / tot).toFixed(0)}%`).join(", ")}`);
    if (objLocks.size) console.log(`   object locks seen: ${[...objLocks].join("; ")}`);
    if (longWaits.length) console.log(`   statements active >30 ms: ${longWaits.slice(0, 15).join(" ")}`);
    const gs = genStalls.filter((s) => s.t >= t0);
    console.log(`   generator: loop stalls >6ms ${gs.length} (sum ${gs.reduce((a, s) => a + s.gap, 0).toFixed(0)} ms, max ${Math.max(0, ...gs.map((s) => s.gap)).toFixed(0)}), GC ${genGcs.length} pauses sum ${genGcs.reduce((a, g) => a + g.d, 0).toFixed(0)} ms max ${Math.max(0, ...genGcs.map((g) => g.d)).toFixed(1)}`);
    // Slow requests by time: where in the run do they fall?
    const slow = recs.filter((x) => x.end - x.start >= p99);
    const buckets = new Map<number, number>();
    for (const s of slow) buckets.set(Math.floor((s.end - t0) / 250), (buckets.get(Math.floor((s.end - t0) / 250)) ?? 0) + 1);
    console.log(`   slowest 1% (${slow.length}) finish in 250-ms windows: ${[...buckets].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${(k * 0.25).toFixed(2)}s:${v}`).join(" ")}`);
    if (which.startsWith("naive")) continue;
    const d = await child.call<Dump>("dump");
    const inRun = <T extends { t: number }>(xs: T[]) => xs.filter((x) => x.t >= t0);
    const gcsRun = inRun(d.gcs);
    const byKind = new Map<string, { n: number; sum: number; max: number }>();
    for (const g of gcsRun) {
      const k = byKind.get(g.kind) ?? { n: 0, sum: 0, max: 0 };
      k.n++;
      k.sum += g.d;
      k.max = Math.max(k.max, g.d);
      byKind.set(g.kind, k);
    }
    console.log(`   server GC: ${[...byKind].map(([k, v]) => `${k} ${v.n}× sum ${v.sum.toFixed(0)} max ${v.max.toFixed(1)} ms`).join("; ")}`);
    const st = inRun(d.stalls).sort((a, b) => b.gap - a.gap);
    console.log(`   server loop stalls >6ms: ${st.length}, sum ${st.reduce((a, s) => a + s.gap, 0).toFixed(0)} ms; top: ${st.slice(0, 8).map((s) => `${((s.t - t0) / 1000).toFixed(2)}s:${s.gap.toFixed(0)}`).join(" ")}`);
    const q = d.queries.filter((x) => x.call >= t0);
    const wait = q.map((x) => x.acquired - x.call);
    const exec = q.map((x) => x.done - x.acquired);
    console.log(
      `   ingest pool: ${q.length} queries; wait p50 ${percentile(wait, 50).toFixed(1)} p99 ${percentile(wait, 99).toFixed(1)} max ${Math.max(...wait).toFixed(1)}; ` +
        `held p50 ${percentile(exec, 50).toFixed(2)} p99 ${percentile(exec, 99).toFixed(1)} max ${Math.max(...exec).toFixed(1)} ms`,
    );
    // Decompose: outside the server vs inside it, for all and for the slow.
    const split = (xs: typeof recs) => {
      const outside: number[] = [];
      const inside: number[] = [];
      for (const x of xs) {
        const s = d.requests[x.id];
        if (!s) continue;
        inside.push(s.finish - s.arrive);
        outside.push(x.end - x.start - (s.finish - s.arrive));
      }
      return `inside p50 ${percentile(inside, 50).toFixed(1)} (max ${Math.max(...inside).toFixed(0)}), outside (before 'request' + after 'finish') p50 ${percentile(outside, 50).toFixed(1)} (max ${Math.max(...outside).toFixed(0)})`;
    };
    console.log(`   all:  ${split(recs)}`);
    console.log(`   slow: ${split(slow)}`);
    // For the slow ones: the GC pauses and stalls overlapping them.
    const overl = (a: number, b: number, t: number, dd: number) => Math.max(0, Math.min(b, t + dd) - Math.max(a, t));
    const gcIn = slow.map((x) => gcsRun.reduce((s, g) => s + overl(x.start, x.end, g.t, g.d), 0));
    const stIn = slow.map((x) => st.reduce((s, g) => s + overl(x.start, x.end, g.t, g.gap), 0));
    const qIn = slow.map((x) => {
      const s = d.requests[x.id];
      return s ? s.arrive - x.start : NaN;
    });
    console.log(`   slow: GC overlap p50 ${percentile(gcIn, 50).toFixed(1)} max ${Math.max(...gcIn).toFixed(0)} ms; stall overlap p50 ${percentile(stIn, 50).toFixed(1)} max ${Math.max(...stIn).toFixed(0)}; start→arrive p50 ${percentile(qIn, 50).toFixed(1)} max ${Math.max(...qIn).toFixed(0)}`);
    // In-flight at the server and queued on the pool over time, in 250-ms windows around slow bursts.
    const arrivals = Object.values(d.requests).filter((x) => x.arrive >= t0);
    const win = (k: number) => {
      const a = t0 + k * 250, b = a + 250;
      const done = arrivals.filter((x) => x.finish >= a && x.finish < b).length;
      const gc = gcsRun.filter((g) => g.t >= a && g.t < b).reduce((s, g) => s + g.d, 0);
      const stl = st.filter((g) => g.t >= a && g.t < b).reduce((s, g) => s + g.gap, 0);
      const qs = q.filter((x) => x.acquired >= a && x.acquired < b);
      const qw = qs.length ? Math.max(...qs.map((x) => x.acquired - x.call)) : 0;
      const qh = qs.length ? Math.max(...qs.map((x) => x.done - x.acquired)) : 0;
      return `${(k * 0.25).toFixed(2)}s finished ${done} gc ${gc.toFixed(0)} stall ${stl.toFixed(0)} poolwait-max ${qw.toFixed(0)} held-max ${qh.toFixed(0)}`;
    };
    const ks = [...new Set(slow.map((x) => Math.floor((x.end - t0) / 250)))].sort((a, b) => a - b);
    const show = [...new Set(ks.flatMap((k) => [k - 2, k - 1, k]))].filter((k) => k >= 0);
    for (const k of show) console.log(`     ${win(k)}`);
  }
  console.log("\nsummary:");
  for (const [v, xs] of summary) console.log(`  ${v.padEnd(12)} ${xs.join(" | ")}`);
} finally {
  for (const ch of children.values()) await ch.stop();
  await pool.end();
  await database.drop();
  await server.stop();
}
