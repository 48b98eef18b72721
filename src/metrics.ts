/**
 * calsync's metrics (OpenTelemetry metrics API). Exported at /metrics in Prometheus text and, when
 * OTEL_METRICS_EXPORTER/OTLP is configured, over OTLP. The names are part of the dashboard
 * contract (otel/dashboard-metrics.json); a test checks every one appears at /metrics.
 */
import { metrics, type Attributes } from "@opentelemetry/api";

const meter = metrics.getMeter("calsync");

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LONG_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export type WebhookOutcome =
  | "accepted"
  | "duplicate"
  | "invalid_signature"
  | "invalid_payload"
  | "payload_too_large"
  | "rate_limited"
  | "unavailable";

export const webhooksReceived = meter.createCounter("calsync_webhooks_received", {
  description: "Webhook deliveries by outcome",
});
export const webhooksUnmatched = meter.createCounter("calsync_webhooks_unmatched", {
  description: "Unscoped webhook deliveries stored UNMATCHED, by reason (no_event_type, unknown_event_type, unverified_connection, ambiguous)",
});
export const webhookIngestDuration = meter.createHistogram("calsync_webhook_ingest_duration_seconds", {
  description: "Time from request start to response for webhook deliveries",
  advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
});
export const webhookProcessingLag = meter.createHistogram("calsync_webhook_processing_lag_seconds", {
  description: "Time from a webhook's receipt to its processing",
  advice: { explicitBucketBoundaries: LONG_BUCKETS },
});
export const jobsTotal = meter.createCounter("calsync_jobs", { description: "Jobs run, by task and outcome" });
export const jobDuration = meter.createHistogram("calsync_job_duration_seconds", {
  description: "Job run time by task",
  advice: { explicitBucketBoundaries: LONG_BUCKETS },
});
export const workerJobsReleased = meter.createCounter("calsync_worker_jobs_released", {
  description: "Jobs released from workers found dead (silent longer than WORKER_DEAD_AFTER_SECONDS)",
});
export const syncRunsTotal = meter.createCounter("calsync_sync_runs", { description: "Sync runs by trigger and outcome" });
export const syncEventTypesSkipped = meter.createCounter("calsync_sync_event_types_skipped", {
  description: "Cal.com event types a sync skipped because they cannot be stored, by reason (invalid, out_of_range, unstorable_text)",
});
export const syncEventTypesHeld = meter.createCounter("calsync_sync_event_types_held_for_linking", {
  description: "Unlinked Cal.com event types a sync did not import because an orphaned service may be the same offer",
});
export const syncRunDuration = meter.createHistogram("calsync_sync_run_duration_seconds", {
  description: "Sync run duration",
  advice: { explicitBucketBoundaries: LONG_BUCKETS },
});
export const calcomRequests = meter.createCounter("calsync_calcom_requests", {
  description: "Requests to the Cal.com API by HTTP status (or error)",
});
export const rateBudgetWaits = meter.createCounter("calsync_rate_budget_waits", {
  description: "Times a Cal.com call waited for the shared rate budget",
});
export const rateBudgetWaitSeconds = meter.createHistogram("calsync_rate_budget_wait_seconds", {
  description: "Time spent waiting for the Cal.com rate budget",
  advice: { explicitBucketBoundaries: LONG_BUCKETS },
});

/** (Prometheus: `calsync_bookings_recovered_total`.) Booking changes a reconcile found in Cal.com that no webhook had brought, by company and change. */
export const bookingsRecovered = meter.createCounter("calsync_bookings_recovered", {
  description: "Missed webhooks recovered by reconciliation, by company_id and change (created, cancelled, rescheduled, rejected, confirmed, pending, updated)",
});
export const reconcileRunsTotal = meter.createCounter("calsync_reconcile_runs", { description: "Reconcile runs by trigger and outcome" });
export const reconcileRunDuration = meter.createHistogram("calsync_reconcile_run_duration_seconds", {
  description: "Reconcile run duration",
  advice: { explicitBucketBoundaries: LONG_BUCKETS },
});
/** (Prometheus: `calsync_retention_removed_total`.) Rows the retention task removed or scrubbed, by kind. */
export const retentionRemoved = meter.createCounter("calsync_retention_removed", {
  description: "Rows removed (or payloads scrubbed) by the retention task, by kind",
});

export function recordWebhook(outcome: WebhookOutcome, path: string, seconds: number): void {
  const attrs: Attributes = { outcome, path };
  webhooksReceived.add(1, attrs);
  webhookIngestDuration.record(seconds, { outcome });
}

export { meter };
