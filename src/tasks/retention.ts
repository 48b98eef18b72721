/**
 * `retention`: the daily clean-up (RETENTION_CRON) of payloads, events, runs, audit lines and
 * permanently failed jobs; see retention/retention.ts. Safe to run at any time, and twice.
 */
import { z } from "zod";
import { defineTask } from "../worker/traced.ts";
import { runRetention } from "../retention/retention.ts";

export const retentionTask = defineTask({
  name: "retention",
  schema: z.looseObject({}),
  run: async () => {
    await runRetention();
  },
});
