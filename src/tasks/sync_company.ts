/**
 * `sync_company`: runs the full sync of one queued run (see sync/runs.ts). Payload `{ runId }`
 * (plus `companyId` for operators reading the queue). Idempotent: a run that is gone or already
 * finished is left alone.
 */
import { z } from "zod";
import { defineTask } from "../worker/traced.ts";
import { executeRun } from "../sync/runs.ts";

export const syncCompanyTask = defineTask({
  name: "sync_company",
  schema: z.object({ runId: z.uuid(), companyId: z.uuid().optional() }),
  run: async ({ runId }, helpers) => {
    await executeRun(runId, { attempt: helpers.job.attempts, maxAttempts: helpers.job.max_attempts, signal: helpers.abortSignal });
  },
});
