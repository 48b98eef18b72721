import type { CronItem } from "graphile-worker";
import type { Env } from "../config.ts";

/** The scheduled full sync: one `schedule_syncs` job per SYNC_CRON tick, fanning out per company. */
export function syncCronItems(pattern: string): CronItem[] {
  // backfillPeriod 0: a process that was down does not replay missed ticks.
  return [{ task: "schedule_syncs", match: pattern, identifier: "scheduled_sync", options: { backfillPeriod: 0 } }];
}

/**
 * The hourly reconcile (RECONCILE_CRON) and the daily retention (RETENTION_CRON). No backfill:
 * the time a process was down is covered by the start-up reconcile (see `startupJobs`), whose
 * window begins at each company's watermark, and retention catches up on its next day.
 */
export function maintenanceCronItems(env: Pick<Env, "RECONCILE_CRON" | "RETENTION_CRON">): CronItem[] {
  return [
    { task: "schedule_reconciles", match: env.RECONCILE_CRON, identifier: "scheduled_reconcile", options: { backfillPeriod: 0 }, payload: { trigger: "SCHEDULED" } },
    { task: "retention", match: env.RETENTION_CRON, identifier: "daily_retention", options: { backfillPeriod: 0 } },
  ];
}

/** Every cron item of a worker process. */
export function workerCronItems(env: Pick<Env, "SYNC_CRON" | "RECONCILE_CRON" | "RETENTION_CRON">): CronItem[] {
  return [...syncCronItems(env.SYNC_CRON), ...maintenanceCronItems(env)];
}
