/**
 * The task registry: every graphile-worker task, by identifier. Each task lives in its own file
 * and is wrapped by `traced` (payload validation, trace continuation, correlation id).
 */
import type { TaskList } from "graphile-worker";
import { traced } from "../worker/traced.ts";
import { processWebhookEventTask } from "./process_webhook_event.ts";
import { reconcileCompanyTask } from "./reconcile_company.ts";
import { retentionTask } from "./retention.ts";
import { scheduleReconcilesTask } from "./schedule_reconciles.ts";
import { scheduleSyncsTask } from "./schedule_syncs.ts";
import { syncCompanyTask } from "./sync_company.ts";
import { syncServiceTask } from "./sync_service.ts";

export const taskList: TaskList = Object.fromEntries(
  ([
    processWebhookEventTask,
    syncCompanyTask,
    syncServiceTask,
    scheduleSyncsTask,
    reconcileCompanyTask,
    scheduleReconcilesTask,
    retentionTask,
  ] as Parameters<typeof traced>[0][]).map((def) => [def.name, traced(def)]),
);
