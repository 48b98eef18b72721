import type { Prisma } from "../generated/prisma/client.ts";
/**
 * Refreshing one event type (the `sync_service` job): `GET /v2/event-types/{id}` (the team's
 * path for a team connection), applied with the same upsert as the full sync. A 404 makes the
 * service REMOTE_DELETED (Cal.com answered for this very id, so no listing is needed); a bad key
 * or response makes it ERROR with the reason. An event type that no service has yet (a booking
 * for an event type created since the last sync) becomes a new SYNCED service.
 */
import { NotFound } from "../calcom/errors.ts";
import { NotConnected, clientForCompany } from "../calcom/for-company.ts";
import type { CalcomClient } from "../calcom/client.ts";
import { db, pool } from "../db/client.ts";
import { Interrupted } from "../worker/abort.ts";
import { log } from "../log.ts";
import { upsertServices } from "./apply.ts";
import { invalidateListing } from "./listing-cache.ts";
import { project, unstorable } from "./normalise.ts";
import { companyQueue, isRetryable } from "./runs.ts";
import { enqueue } from "../worker/enqueue.ts";

/** graphile-worker attempts of a `sync_service` job queued here. */
export const SYNC_SERVICE_MAX_ATTEMPTS = 5;

/** The job key the webhook processor uses too, so the two never queue the same refresh twice. */
export function syncServiceJobKey(companyId: string, eventTypeId: number): string {
  return `sync_service:${companyId}:${eventTypeId}`;
}

/**
 * Queues a refresh of one event type in the caller's transaction: on the company's queue (so it
 * shares the company's turn at the rate budget) and keyed, so a burst of webhooks for the same
 * unknown event type queues it once.
 */
export async function enqueueServiceSync(tx: Prisma.TransactionClient, companyId: string, eventTypeId: number): Promise<void> {
  await enqueue(
    "sync_service",
    { companyId, eventTypeId },
    { jobKey: syncServiceJobKey(companyId, eventTypeId), queueName: companyQueue(companyId), maxAttempts: SYNC_SERVICE_MAX_ATTEMPTS },
    tx,
  );
}

/** Marks the service PENDING and queues its refresh, in one transaction. */
export async function requestServiceSync(serviceId: string, companyId: string, eventTypeId: number): Promise<void> {
  await db().$transaction(async (tx) => {
    await tx.service.update({ where: { id: serviceId }, data: { syncStatus: "PENDING", syncError: null } });
    await enqueueServiceSync(tx, companyId, eventTypeId);
  });
}

export type RefreshTarget = { companyId: string; eventTypeId: number } | { serviceId: string };

export type RefreshOutcome = "created" | "updated" | "unchanged" | "remote_deleted" | "error" | "skipped";

export interface RefreshOptions {
  attempt: number;
  maxAttempts: number;
  /** Use this client instead of the company's stored connection (tests). */
  client?: CalcomClient;
  /** The job's abort signal: a worker shutting down interrupts the Cal.com call. */
  signal?: AbortSignal;
}

/** Sets the status of the company's service for the event type, unless it is LEGACY. */
async function markService(companyId: string, eventTypeId: number, status: "REMOTE_DELETED" | "ERROR", error: string | null) {
  await db().service.updateMany({
    where: { companyId, calcomEventTypeId: eventTypeId, syncStatus: { not: "LEGACY" } },
    data: { syncStatus: status, syncError: error },
  });
}

export async function refreshEventType(target: RefreshTarget, options: RefreshOptions): Promise<RefreshOutcome> {
  let companyId: string;
  let eventTypeId: number;
  if ("serviceId" in target) {
    const service = await db().service.findUnique({
      where: { id: target.serviceId },
      select: { companyId: true, calcomEventTypeId: true },
    });
    if (!service || service.calcomEventTypeId === null) return "skipped"; // gone, or unlinked meanwhile
    ({ companyId } = service);
    eventTypeId = service.calcomEventTypeId;
  } else {
    ({ companyId, eventTypeId } = target);
  }
  const logger = log("sync");

  try {
    const client = options.client ?? (await clientForCompany(companyId, {}, options.signal));
    const eventType = await client.getEventType(eventTypeId);
    const why = unstorable(eventType);
    if (why) {
      // Not retryable: the same event type would fail the same way. The service says why.
      await markService(companyId, eventTypeId, "ERROR", `Cal.com event type cannot be stored: ${why}`);
      logger.warn({ companyId, eventTypeId, reason: why }, "event type skipped: it cannot be stored");
      return "error";
    }
    const counts = await upsertServices(pool(), companyId, [project(eventType)]);
    invalidateListing(companyId);
    return counts.created ? "created" : counts.updated ? "updated" : "unchanged";
  } catch (err) {
    if (err instanceof NotFound) {
      await markService(companyId, eventTypeId, "REMOTE_DELETED", null);
      invalidateListing(companyId);
      return "remote_deleted";
    }
    if (err instanceof Interrupted) throw err; // the job is released to another worker
    if (isRetryable(err) && options.attempt < options.maxAttempts) throw err;
    const message = err instanceof NotConnected ? "The company is not connected to Cal.com." : (err as Error).message;
    await markService(companyId, eventTypeId, "ERROR", message.slice(0, 500));
    logger.warn({ companyId, eventTypeId, errorClass: (err as Error).name, err: message }, "event type refresh failed");
    return "error";
  }
}
