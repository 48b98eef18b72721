/**
 * Database-backed gauges the alert rules (otel/alerts.yml) watch, observed at scrape time:
 *
 *   calsync_database_up                          1 when PostgreSQL answered this scrape, else 0
 *   calsync_webhook_events{status}               stored deliveries that still need someone:
 *                                                RECEIVED (not processed yet), FAILED, UNMATCHED
 *   calsync_company_sync_consecutive_failures    per company with a failing streak: FAILED runs
 *     {company_id, company}                      since its last SUCCEEDED one (absent when 0)
 *   calsync_sync_success_ratio{window}           src/domain/rates.ts, over every company,
 *   calsync_webhook_error_ratio{window}          window="24h" | "7d" (absent while undefined)
 *
 * One round of queries per scrape; a failing database makes database_up 0 and leaves the rest
 * unobserved (so alerts on them do not fire on stale numbers).
 */
import { pool } from "../db/client.ts";
import { ratesTotal } from "../domain/rates.ts";
import { log } from "../log.ts";
import { meter } from "../metrics.ts";

let registered = false;

export function registerOpsGauges(): void {
  if (registered) return;
  registered = true;
  const databaseUp = meter.createObservableGauge("calsync_database_up", {
    description: "1 when PostgreSQL answered the last scrape, 0 when it did not",
  });
  const events = meter.createObservableGauge("calsync_webhook_events", {
    description: "Stored webhook deliveries waiting for processing (RECEIVED) or for an operator (FAILED, UNMATCHED), by status",
  });
  const streak = meter.createObservableGauge("calsync_company_sync_consecutive_failures", {
    description: "FAILED sync runs since the company's last SUCCEEDED one (companies with a streak only)",
  });
  const syncSuccess = meter.createObservableGauge("calsync_sync_success_ratio", {
    description: "Sync runs SUCCEEDED / finished over the window, every company (0-1)",
  });
  const webhookErrors = meter.createObservableGauge("calsync_webhook_error_ratio", {
    description: "Webhook deliveries FAILED or INVALID / stored over the window, every company (0-1)",
  });
  meter.addBatchObservableCallback(
    async (observer) => {
      try {
        const db = pool();
        const byStatus = await db.query<{ status: string; n: number }>(
          `SELECT s.status, count(e.id)::int AS n
             FROM unnest(ARRAY['RECEIVED', 'FAILED', 'UNMATCHED']) AS s(status)
             LEFT JOIN webhook_events e ON e.status = s.status::"WebhookEventStatus"
            GROUP BY s.status`,
        );
        observer.observe(databaseUp, 1);
        for (const r of byStatus.rows) observer.observe(events, r.n, { status: r.status });
        // Per company: its runs after its last SUCCEEDED one that FAILED, newest-first window.
        const streaks = await db.query<{ company_id: string; slug: string; failures: number }>(
          `SELECT c.id::text AS company_id, c.slug, f.failures
             FROM companies c
             JOIN LATERAL (
               SELECT count(*)::int AS failures FROM sync_runs r
                WHERE r.company_id = c.id AND r.status = 'FAILED'
                  AND r.finished_at > coalesce((SELECT max(s.finished_at) FROM sync_runs s
                                                 WHERE s.company_id = c.id AND s.status = 'SUCCEEDED'), '-infinity')
             ) f ON f.failures > 0`,
        );
        for (const r of streaks.rows) observer.observe(streak, r.failures, { company_id: r.company_id, company: r.slug });
        const rates = await ratesTotal(null);
        for (const [window, w] of [["24h", rates.last24h], ["7d", rates.last7d]] as const) {
          if (w.syncSuccessRate !== null) observer.observe(syncSuccess, w.syncSuccessRate, { window });
          if (w.webhookErrorRate !== null) observer.observe(webhookErrors, w.webhookErrorRate, { window });
        }
      } catch (err) {
        observer.observe(databaseUp, 0);
        log("http").warn({ err: (err as Error).message }, "operational gauges unavailable");
      }
    },
    [databaseUp, events, streak, syncSuccess, webhookErrors],
  );
}
