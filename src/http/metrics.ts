/**
 * GET /metrics: Prometheus text exposition of calsync's OpenTelemetry metrics, plus gauges read
 * from the database at scrape time (queue depth, oldest due job, coverage per company).
 */
import type { FastifyInstance } from "fastify";
import { prometheusExporter } from "../../otel/sdk.ts";
import { pool } from "../db/client.ts";
import { coverageReport } from "../domain/coverage.ts";
import { log } from "../log.ts";
import { meter } from "../metrics.ts";

let gaugesRegistered = false;

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
        const { rows } = await pool().query<{ task: string; depth: number; oldest: number | null }>(`
          SELECT t.identifier AS task, count(*)::int AS depth,
                 extract(epoch FROM now() - min(j.run_at) FILTER (WHERE j.run_at <= now() AND j.locked_at IS NULL))::float AS oldest
            FROM graphile_worker._private_jobs j
            JOIN graphile_worker._private_tasks t ON t.id = j.task_id
           WHERE j.attempts < j.max_attempts
           GROUP BY t.identifier`);
        let oldest = 0;
        for (const r of rows) {
          observer.observe(queueDepth, r.depth, { task: r.task });
          oldest = Math.max(oldest, r.oldest ?? 0);
        }
        observer.observe(oldestDue, oldest);
        const report = await coverageReport(null);
        for (const c of report.companies) {
          observer.observe(coverage, c.coverage.coveragePercent, { company_id: c.companyId, company: c.slug });
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
    reply.hijack();
    prometheusExporter().getMetricsRequestHandler(req.raw, reply.raw);
  });
}
