/**
 * GET /metrics: Prometheus text exposition of calsync's OpenTelemetry metrics, plus gauges read
 * from the database (queue depth, oldest due job, coverage per company).
 *
 * Security and cost:
 * - With METRICS_TOKEN set, a scrape needs `Authorization: Bearer <METRICS_TOKEN>` (constant-time
 *   compare); without it the answer is 401 and names no tenant.
 * - With METRICS_PORT set, /metrics is served only on that separate listener (METRICS_HOST,
 *   default 127.0.0.1), never on the public one (see server.ts).
 * - The coverage gauges (a full aggregate over every company's services) come from a snapshot
 *   refreshed at most every GAUGE_CACHE_MS: any number of scrapes (and the OTLP reader) cost one
 *   aggregate per 15 s, and concurrent ones share it. The queue gauges stay one small query per
 *   scrape: they are what lag and dead-worker alerts read, and they must not lag themselves.
 */
import type { FastifyInstance } from "fastify";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "../../otel/prometheus.ts";
import { env } from "../config.ts";
import { safeEqual } from "../secrets.ts";
import { pool } from "../db/client.ts";
import { coverageReport } from "../domain/coverage.ts";
import { log } from "../log.ts";
import { meter } from "../metrics.ts";
import { registerOpsGauges } from "./ops-metrics.ts";

let gaugesRegistered = false;

/** The coverage gauges are re-read at most this often (Default: 15 s). */
export const GAUGE_CACHE_MS = 15_000;

interface CoverageSnapshot {
  at: number;
  coverage: { companyId: string; slug: string; percent: number }[];
}

let snapshot: CoverageSnapshot | undefined;
let refreshing: Promise<CoverageSnapshot> | undefined;

/** The cached coverage snapshot, refreshed (once, shared by concurrent callers) when older than GAUGE_CACHE_MS. */
export async function coverageSnapshot(): Promise<CoverageSnapshot> {
  if (snapshot && Date.now() - snapshot.at < GAUGE_CACHE_MS) return snapshot;
  refreshing ??= coverageReport(null)
    .then((report) => (snapshot = {
      at: Date.now(),
      coverage: report.companies.map((c) => ({ companyId: c.companyId, slug: c.slug, percent: c.coverage.coveragePercent })),
    }))
    .finally(() => {
      refreshing = undefined;
    });
  return refreshing;
}

/** Drops the snapshot (tests). */
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
    description: "Queue lag: age of the oldest due job not yet done, waiting or locked (0 when none)",
  });
  const oldestLocked = meter.createObservableGauge("calsync_queue_oldest_locked_age_seconds", {
    description: "How long the longest-held job lock has been held (0 when none)",
  });
  const stranded = meter.createObservableGauge("calsync_queue_jobs_locked_by_gone_workers", {
    description: "Jobs locked by a worker with no heartbeat within WORKER_DEAD_AFTER_SECONDS (released at the next recovery)",
  });
  const coverage = meter.createObservableGauge("calsync_coverage_ratio", {
    description: "Synced / active services (0-1), per company; 0 when it has no active service",
  });
  meter.addBatchObservableCallback(
    async (observer) => {
      try {
        // A locked job counts as lag too: one held by a dead worker is exactly the lag to alert on.
        const { rows } = await pool().query<{ task: string; depth: number; oldest: number | null; locked: number | null; gone: number }>(`
          SELECT t.identifier AS task, count(*)::int AS depth,
                 extract(epoch FROM now() - min(j.run_at) FILTER (WHERE j.run_at <= now()))::float AS oldest,
                 extract(epoch FROM now() - min(j.locked_at))::float AS locked,
                 count(*) FILTER (WHERE j.locked_by IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM worker_heartbeats h
                    WHERE h.worker_id = j.locked_by AND h.last_beat_at >= now() - make_interval(secs => $1)))::int AS gone
            FROM graphile_worker._private_jobs j
            JOIN graphile_worker._private_tasks t ON t.id = j.task_id
           WHERE j.attempts < j.max_attempts OR j.locked_at IS NOT NULL
           GROUP BY t.identifier`, [env().WORKER_DEAD_AFTER_SECONDS]);
        let oldest = 0;
        let locked = 0;
        let gone = 0;
        for (const r of rows) {
          observer.observe(queueDepth, r.depth, { task: r.task });
          oldest = Math.max(oldest, r.oldest ?? 0);
          locked = Math.max(locked, r.locked ?? 0);
          gone += r.gone;
        }
        observer.observe(oldestDue, oldest);
        observer.observe(oldestLocked, locked);
        observer.observe(stranded, gone);
        for (const c of (await coverageSnapshot()).coverage) {
          observer.observe(coverage, c.percent / 100, { company_id: c.companyId, company: c.slug });
        }
      } catch (err) {
        log("http").warn({ err: (err as Error).message }, "metrics gauges unavailable");
      }
    },
    [queueDepth, oldestDue, oldestLocked, stranded, coverage],
  );
}

export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  registerDatabaseGauges();
  registerOpsGauges();
  app.get("/metrics", async (req, reply) => {
    const token = env().METRICS_TOKEN;
    if (token) {
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
      if (!presented || !safeEqual(presented, token)) {
        return reply.code(401).header("www-authenticate", 'Bearer realm="metrics"').send({ error: "unauthorized" });
      }
    }
    return reply.header("content-type", PROMETHEUS_CONTENT_TYPE).send(await prometheusText());
  });
}
