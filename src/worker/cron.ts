import type { CronItem } from "graphile-worker";

/** The scheduled full sync: one `schedule_syncs` job per SYNC_CRON tick, fanning out per company. */
export function syncCronItems(pattern: string): CronItem[] {
  // backfillPeriod 0: a process that was down does not replay missed ticks.
  return [{ task: "schedule_syncs", match: pattern, identifier: "scheduled_sync", options: { backfillPeriod: 0 } }];
}
