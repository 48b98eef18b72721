/**
 * `schedule_reconciles`: queues a reconcile for every connected company (one already queued or
 * running is kept). Runs on RECONCILE_CRON (`SCHEDULED`) and once when a worker starts
 * (`STARTUP`: each company's window starts at its watermark, so it covers the time calsync was
 * down). Payload `{ trigger? }`; the cron's own payload (`{ _cron }`) means SCHEDULED.
 */
import { z } from "zod";
import { db } from "../db/client.ts";
import { log } from "../log.ts";
import { defineTask } from "../worker/traced.ts";
import { requestReconcile } from "../reconcile/runs.ts";

export const scheduleReconcilesTask = defineTask({
  name: "schedule_reconciles",
  schema: z.looseObject({ trigger: z.enum(["SCHEDULED", "STARTUP"]).optional() }),
  run: async ({ trigger }) => {
    let queued = 0;
    let cursor: string | undefined;
    for (;;) {
      const page = await db().calcomConnection.findMany({
        select: { companyId: true },
        orderBy: { companyId: "asc" },
        take: 500,
        ...(cursor ? { cursor: { companyId: cursor }, skip: 1 } : {}),
      });
      for (const { companyId } of page) {
        const { created } = await requestReconcile(companyId, trigger ?? "SCHEDULED");
        if (created) queued++;
      }
      if (page.length < 500) break;
      cursor = page.at(-1)!.companyId;
    }
    log("reconcile").info({ queued, trigger: trigger ?? "SCHEDULED" }, "reconciles queued");
  },
});
