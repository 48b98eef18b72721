/** Every task identifier, snake_case as graphile-worker runs them. */
export const TASK_NAMES = [
  "process_webhook_event",
  "sync_company",
  "sync_service",
  "schedule_syncs",
  "reconcile_company",
  "schedule_reconciles",
  "retention",
] as const;
export type TaskName = (typeof TASK_NAMES)[number];
