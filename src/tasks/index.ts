/**
 * The task registry: every graphile-worker task, by identifier. Each task lives in its own file
 * and is wrapped by `traced` (payload validation, trace continuation, correlation id).
 */
import type { TaskList } from "graphile-worker";
import { traced } from "../worker/traced.ts";
import { processWebhookEventTask } from "./process_webhook_event.ts";
import { scheduleSyncsTask } from "./schedule_syncs.ts";
import { syncCompanyTask } from "./sync_company.ts";
import { syncServiceTask } from "./sync_service.ts";

export const taskList: TaskList = Object.fromEntries(
  ([processWebhookEventTask, syncCompanyTask, syncServiceTask, scheduleSyncsTask] as Parameters<typeof traced>[0][]).map((def) => [def.name, traced(def)]),
);
