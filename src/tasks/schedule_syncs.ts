/**
 * `schedule_syncs`: the SYNC_CRON tick. Queues a SCHEDULED full sync for every connected company
 * (a company whose sync is already queued or running keeps that one).
 */
import { z } from "zod";
import { db } from "../db/client.ts";
import { log } from "../log.ts";
import { defineTask } from "../worker/traced.ts";
import { requestSync } from "../sync/runs.ts";

export const scheduleSyncsTask = defineTask({
  name: "schedule_syncs",
  // The cron payload is `{ _cron: { ts, backfilled } }`; nothing in it is needed.
  schema: z.looseObject({}),
  run: async () => {
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
        const { created } = await requestSync(companyId, "SCHEDULED");
        if (created) queued++;
      }
      if (page.length < 500) break;
      cursor = page.at(-1)!.companyId;
    }
    log("sync").info({ queued }, "scheduled syncs queued");
  },
});
