/**
 * `sync_service`: refreshes one Cal.com event type into its service (see sync/service-sync.ts).
 * Payload `{ companyId, eventTypeId }` (what the webhook processor and `syncService` enqueue, job
 * key `sync_service:<companyId>:<eventTypeId>`), or `{ serviceId }`.
 */
import { z } from "zod";
import { defineTask } from "../worker/traced.ts";
import { refreshEventType } from "../sync/service-sync.ts";

export const syncServicePayload = z.union([
  z.object({ companyId: z.uuid(), eventTypeId: z.number().int().positive() }),
  z.object({ serviceId: z.uuid() }),
]);

export const syncServiceTask = defineTask({
  name: "sync_service",
  schema: syncServicePayload,
  run: async (target, helpers) => {
    await refreshEventType(target, { attempt: helpers.job.attempts, maxAttempts: helpers.job.max_attempts, signal: helpers.abortSignal });
  },
});
