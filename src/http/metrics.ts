/**
 * GET /metrics: Prometheus text exposition of calsync's OpenTelemetry metrics, plus gauges read
 * from the database (queue depth, oldest due job, coverage per company).
 *
 * Security and cost:
 * - With METRICS_TOKEN set, a scrape needs `Authorization: Bearer <METRICS_TOKEN>` (constant-time
 *   compare); without it the answer is 401 and names no tenant.
 * - With METRICS_PORT set, /metrics is served only on that separate listener (METRICS_HOST,
 *   default 127.0.0.1), never on the public one (see server.ts).
 * - The database gauges come from a snapshot refreshed at most every GAUGE_CACHE_MS: any number
 *   of scrapes (and the OTLP reader) cost one aggregate per 15 s, and concurrent ones share it.
 */
import type { FastifyInstance } from "fastify";
import { env } from "../config.ts";
import { safeEqual } from "../secrets.ts";
import { prometheusExporter } from "../../otel/sdk.ts";
import { pool } from "../db/client.ts";
import { coverageReport } from "../domain/coverage.ts";
import { log } from "../log.ts";
import { meter } from "../metrics.ts";

let gaugesRegistered = false;

/** The database gauges are re-read at most this often (Default: 15 s). */
export const GAUGE_CACHE_MS = 15_000;

interface GaugeSnapshot {
  at: number;
  queue: { task: string; depth: number; oldest: number | null }[];
  coverage: { companyId: string; slug: string; percent: number }[];
}

let snapshot: GaugeSnapshot | undefined;
let refreshing: Promise<GaugeSnapshot> | undefined;

async function readGauges(): Promise<GaugeSnapshot> {
  const { rows } = await pool().query<{ task: string; depth: number; oldest: number | null }>(`
    SELECT t.identifier AS task, count(*)::int AS depth,
           extract(epoch FROM now() - min(j.run_at) FILTER (WHERE j.run_at <= now() AND j.locked_at IS NULL))::float AS oldest
      FROM graphile_worker._private_jobs j
      JOIN graphile_worker._private_tasks t ON t.id = j.task_id
     WHERE j.attempts < j.max_attempts
     GROUP BY t.identifier`);
  const report = await coverageReport(null);
  return {
    at: Date.now(),
    queue: rows,
    coverage: report.companies.map((c) => ({ companyId: c.companyId, slug: c.slug, percent: c.coverage.coveragePercent })),
  };
}

/** The cached snapshot, refreshed (once, shared by concurrent callers) when older than GAUGE_CACHE_MS. */
export async function gaugeSnapshot(): Promise<GaugeSnapshot> {
  if (snapshot && Date.now() - snapshot.at < GAUGE_CACHE_MS) return snapshot;
  refreshing ??= readGauges()
    .then((next) => (snapshot = next))
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

/** Drops the snapshot (tests; a new database). */
export function resetGaugeCache(): void {
  snapshot = undefined;
}

/** Database-backed gauges, observed on each collection (one query each). */
function registerDatabaseGauges(): void {
  if (gaugesRegistered) return;
  gaugesRegistered = true;
  const queueDepth = meter.createObservableGauge("calsync_queue_depth", {
    description: "Jobs waiting or running, by task",
  });
  const oldestDue = meter.createObservableGauge("calsync_queue_oldest_due_age_seconds", {
    description: "Age of the oldest job that is due and not yet locked (0 when none)",
  });
  const coverage = meter.createObservableGauge("calsync_coverage_percent", {
    description: "Synced / active services * 100, per company",
  });
  meter.addBatchObservableCallback(
    async (observer) => {
      try {
        const gauges = await gaugeSnapshot();
        let oldest = 0;
        for (const r of gauges.queue) {
          observer.observe(queueDepth, r.depth, { task: r.task });
          oldest = Math.max(oldest, r.oldest ?? 0);
        }
        observer.observe(oldestDue, oldest);
        for (const c of gauges.coverage) {
          observer.observe(coverage, c.percent, { company_id: c.companyId, company: c.slug });
        }
      } catch (err) {
        log("http").warn({ err: (err as Error).message }, "metrics gauges unavailable");
      }
    },
    [queueDepth, oldestDue, coverage],
  );
}

export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  registerDatabaseGauges();
  app.get("/metrics", (req, reply) => {
    const token = env().METRICS_TOKEN;
    if (token) {
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
      if (!presented || !safeEqual(presented, token)) {
        return reply.code(401).header("www-authenticate", 'Bearer realm="metrics"').send({ error: "unauthorized" });
      }
    }
    reply.hijack();
    prometheusExporter().getMetricsRequestHandler(req.raw, reply.raw);
  });
}
