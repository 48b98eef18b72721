/**
 * `reconcile_company`: runs one queued reconcile (see reconcile/runs.ts). Payload `{ runId }` (plus
 * `companyId` for operators reading the queue). Idempotent: a run that is gone or finished is left
 * alone; a retried attempt resumes from the run's cursor.
 */
import { z } from "zod";
import { defineTask } from "../worker/traced.ts";
import { executeReconcile } from "../reconcile/runs.ts";

export const reconcileCompanyTask = defineTask({
  name: "reconcile_company",
  schema: z.object({ runId: z.uuid(), companyId: z.uuid().optional() }),
  run: async ({ runId }, helpers) => {
    await executeReconcile(runId, { attempt: helpers.job.attempts, maxAttempts: helpers.job.max_attempts });
  },
});
