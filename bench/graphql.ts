/**
 * graphql: with 10,000 services in one company (and a few small companies), `coverageReport` and a
 * 50-service page of that company through POST /graphql (admin token), at concurrency 16: p50 and
 * req/s. Floor: the same SQL run directly through pg (a pool of the same size) at the same
 * concurrency, i.e. the coverage aggregate of src/domain/coverage.ts, and the page
 * (ORDER BY name, id LIMIT 51) with its count.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { db } from "../src/db/client.ts";
import { coverageSql } from "../src/domain/coverage.ts";
import { connectCompany, createCompany } from "../test/factories.ts";
import { Child } from "./lib/child.ts";
import { benchPool, freshDatabase } from "./lib/db.ts";
import { ADMIN_TOKEN, POOL_SIZE, calsyncEnv, releaseDatabase, useDatabase } from "./lib/env.ts";
import { closedLoop, type Shot } from "./lib/load.ts";
import type { Row, SectionContext } from "./lib/report.ts";
import { percentile } from "./lib/stats.ts";

const CONCURRENCY = 16;

const COVERAGE_QUERY = "{ coverageReport { totals { coveragePercent } companies { company { id } coverage { coveragePercent } } } }";
const PAGE_QUERY = "query($id: ID!) { company(id: $id) { services(first: 50) { totalCount edges { node { id name syncStatus } } } } }";

/** src/domain/coverage.ts's aggregate, over every company (what the admin's coverageReport runs). */
const COVERAGE_SQL = coverageSql(null);
const coverageFloorQuery = { text: COVERAGE_SQL.text, values: COVERAGE_SQL.values as unknown[] };
const PAGE_SQL = "SELECT id, name, sync_status FROM services WHERE company_id = $1 ORDER BY name, id LIMIT 51";
const COUNT_SQL = "SELECT count(*)::int AS n FROM services WHERE company_id = $1";

interface Figures {
  p50: number;
  perSecond: number;
  /** CPU of the process answering (calsync's, or this one's pg client for the floor) per request, ms. */
  cpuPerRequest: number;
}

export async function graphql(ctx: SectionContext): Promise<Row[]> {
  // 1,000 rather than 2,000: the coverage aggregate over 10,000 rows keeps PostgreSQL at ~100/s on
  // 2 cores, and the whole bench should stay within about 5 minutes.
  const requests = ctx.n(1_000);
  const warm = ctx.n(100);
  const services = 10_000;
  const database = await freshDatabase(ctx.server, "graphql");
  const pool = benchPool(database.url, POOL_SIZE);
  let app: Child<{ origin: string }> | undefined;
  try {
    useDatabase(database.url);
    const bigId = await seed(services);
    await releaseDatabase();
    await pool.query("ANALYZE");
    app = await Child.start<{ origin: string }>("calsync.ts", {
      env: calsyncEnv(database.url),
      cpuProfDir: ctx.cpuProfDir ? `${ctx.cpuProfDir}/graphql` : undefined,
    });
    const shot = (query: string, variables: Record<string, unknown> = {}): Shot => ({
      path: "/graphql",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: Buffer.from(JSON.stringify({ query, variables })),
    });
    const coverageShot = shot(COVERAGE_QUERY);
    const pageShot = shot(PAGE_QUERY, { id: encodeGlobalID("Company", bigId) });

    const coverage = await viaHttp(app, coverageShot, warm, requests, (b) => b.includes('"coverageReport":{"totals"'));
    const coverageFloor = await viaPg(warm, requests, () => pool.query(coverageFloorQuery.text, coverageFloorQuery.values));
    const page = await viaHttp(app, pageShot, warm, requests, (b) => b.includes(`"totalCount":${services}`));
    const pageFloor = await viaPg(warm, requests, () => Promise.all([pool.query(PAGE_SQL, [bigId]), pool.query(COUNT_SQL, [bigId])]));
    ctx.log(
      `  graphql coverageReport: ${coverage.perSecond.toFixed(0)} req/s (pg ${coverageFloor.perSecond.toFixed(0)}); ` +
        `services page: ${page.perSecond.toFixed(0)} req/s (pg ${pageFloor.perSecond.toFixed(0)})`,
    );
    const n = requests.toLocaleString("en-US");
    return [
      { section: "graphql", metric: "coverageReport p50 ms, c=16", value: coverage.p50, floor: coverageFloor.p50, note: `10,000 services in one company + 5 small; ${n} requests; floor: the aggregate via pg` },
      { section: "graphql", metric: "coverageReport req/s, c=16", value: coverage.perSecond, floor: coverageFloor.perSecond, note: "calsync shares one aggregate among concurrent requests, each answered from a run started after it arrived; the floor runs one per request" },
      { section: "graphql", metric: "coverageReport server CPU ms/request", value: coverage.cpuPerRequest, floor: coverageFloor.cpuPerRequest, note: "floor: the pg client's CPU" },
      { section: "graphql", metric: "50-service page p50 ms, c=16", value: page.p50, floor: pageFloor.p50, note: "floor: page (LIMIT 51) + count via pg" },
      { section: "graphql", metric: "50-service page req/s, c=16", value: page.perSecond, floor: pageFloor.perSecond },
      { section: "graphql", metric: "50-service page server CPU ms/request", value: page.cpuPerRequest, floor: pageFloor.cpuPerRequest },
    ];
  } finally {
    await app?.stop();
    await pool.end();
    await database.drop();
  }
}

/** One company with `n` services in a realistic mix of states, plus five small companies. */
async function seed(n: number): Promise<string> {
  const big = await createCompany({ name: "Big Clinic", slug: "big-clinic" });
  await connectCompany(big.id);
  const statuses = ["SYNCED", "SYNCED", "SYNCED", "SYNCED", "SYNCED", "SYNCED", "PENDING", "ERROR", "LEGACY", "REMOTE_DELETED"] as const;
  const now = new Date();
  for (let from = 0; from < n; from += 2_000) {
    await db().service.createMany({
      data: Array.from({ length: Math.min(2_000, n - from) }, (_, j) => {
        const i = from + j;
        const status = statuses[i % statuses.length]!;
        const linked = i % 13 !== 0; // some active services were never put on Cal.com
        return {
          companyId: big.id, name: `Service ${String((i * 7919) % n).padStart(5, "0")}`, slug: `service-${i}`, durationMinutes: 30,
          calcomEventTypeId: linked ? 10_000 + i : null, syncStatus: linked ? status : ("PENDING" as const),
          lastCalcomSync: linked && status === "SYNCED" ? now : null,
        };
      }),
    });
  }
  for (let k = 0; k < 5; k++) {
    const c = await createCompany({ name: `Small ${k}`, slug: `small-${k}` });
    if (k % 2 === 0) await connectCompany(c.id);
    await db().service.createMany({
      data: Array.from({ length: 40 }, (_, i) => ({
        companyId: c.id, name: `S${k}-${i}`, slug: `s${k}-${i}`, durationMinutes: 30,
        calcomEventTypeId: k % 2 === 0 ? 50_000 + k * 100 + i : null, syncStatus: k % 2 === 0 ? ("SYNCED" as const) : ("PENDING" as const),
      })),
    });
  }
  return big.id;
}

async function viaHttp(app: Child<{ origin: string }>, shot: Shot, warm: number, n: number, ok: (body: string) => boolean): Promise<Figures> {
  const origin = app.info.origin;
  await closedLoop({ origin, concurrency: CONCURRENCY, shots: Array.from({ length: warm }, () => shot) });
  const cpu = await app.cpuMs();
  const r = await closedLoop({ origin, concurrency: CONCURRENCY, shots: Array.from({ length: n }, () => shot), keepBodies: true });
  const cpuPerRequest = ((await app.cpuMs()) - cpu) / n;
  const good = r.bodies.filter((b) => ok(b) && !b.includes('"errors"')).length;
  if (good !== n) throw new Error(`graphql: ${good} of ${n} answers correct; statuses ${JSON.stringify(r.statuses)}; e.g. ${r.bodies[0]?.slice(0, 300) ?? "(none)"}`);
  return { p50: percentile(r.latenciesMs, 50), perSecond: n / (r.elapsedMs / 1000), cpuPerRequest };
}

async function viaPg(warm: number, n: number, run: () => Promise<unknown>): Promise<Figures> {
  const lanes = async (count: number, latencies: number[]) => {
    let next = 0;
    const lane = async () => {
      while (next++ < count) {
        const t = performance.now();
        await run();
        latencies.push(performance.now() - t);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  };
  await lanes(warm, []);
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  await lanes(n, latencies);
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { p50: percentile(latencies, 50), perSecond: n / (elapsed / 1000), cpuPerRequest: (used.user + used.system) / 1000 / n };
}
