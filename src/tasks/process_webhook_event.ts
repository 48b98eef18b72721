/**
 * process_webhook_event: applies one stored Cal.com webhook event (see webhooks/process.ts).
 * Idempotent; a failure throws so graphile-worker retries with backoff, and the last attempt
 * leaves the event FAILED with its error (retryWebhookEvent re-enqueues it).
 */
import { z } from "zod";
import { log } from "../log.ts";
import { abortable, Interrupted } from "../worker/abort.ts";
import { defineTask } from "../worker/traced.ts";
import { errorLine } from "../webhooks/errors.ts";
import { processWebhookEvent, recordFailure } from "../webhooks/process.ts";

/**
 * What a failed attempt reports to the job's span, log line and graphile-worker's last_error: one
 * line. Prisma's own messages can quote the arguments of a call, i.e. booking data.
 */
export class WebhookProcessingError extends Error {
  override name = "WebhookProcessingError";
}

export const processWebhookEventTask = defineTask({
  name: "process_webhook_event",
  schema: z.object({ eventId: z.uuid() }),
  run: async ({ eventId }, helpers) => {
    try {
      // One short transaction; should it hang (a lock) past the shutdown grace, the job is released
      // and the transaction dies with the pool. Processing is idempotent, so a commit that still
      // lands just makes the next attempt a no-op.
      await abortable(processWebhookEvent(eventId), helpers.abortSignal, "webhook processing");
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      const lastAttempt = helpers.job.attempts >= helpers.job.max_attempts;
      // Recording must not hide the original error (the database may be the problem).
      const message = errorLine(err);
      await recordFailure(eventId, err, lastAttempt).catch(() => {});
      log("webhook").warn(
        { eventId, attempt: helpers.job.attempts, maxAttempts: helpers.job.max_attempts, err: message },
        lastAttempt ? "webhook event FAILED after its last attempt" : "webhook event attempt failed; will retry",
      );
      throw new WebhookProcessingError(message, { cause: err });
    }
  },
});
