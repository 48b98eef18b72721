/**
 * The orphan workflow's failures as typed GraphQL errors (`extensions.code`):
 * NOT_CONNECTED (the company has no Cal.com connection), EVENT_TYPE_NOT_FOUND (not one of the
 * company's event types), EVENT_TYPE_ALREADY_LINKED (another service links it; `serviceId` names
 * it), ALREADY_LINKED / NOT_LINKED / NOT_LEGACY / IS_LEGACY (the service is not in a state the
 * operation applies to), and Cal.com's own failures as CALCOM_* codes.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { CalcomError, InvalidCredentials, RateLimited } from "../calcom/errors.ts";
import { NotConnected } from "../calcom/for-company.ts";
import { AppError } from "../domain/errors.ts";

export class NotConnectedError extends AppError {
  constructor() {
    super("NOT_CONNECTED", "The company is not connected to Cal.com: call connectCalcom first.");
  }
}

export class EventTypeNotFoundError extends AppError {
  constructor(eventTypeId: number) {
    super("EVENT_TYPE_NOT_FOUND", `Cal.com event type ${eventTypeId} is not one of this company's event types.`, {
      field: "calcomEventTypeId",
    });
  }
}

export class EventTypeAlreadyLinkedError extends AppError {
  constructor(eventTypeId: number, serviceId: string | null) {
    super(
      "EVENT_TYPE_ALREADY_LINKED",
      `Cal.com event type ${eventTypeId} is already linked to another service (unlink that one first).`,
      { field: "calcomEventTypeId", ...(serviceId ? { serviceId: encodeGlobalID("Service", serviceId) } : {}) },
    );
  }
}

export type ServiceStateCode = "ALREADY_LINKED" | "NOT_LINKED" | "NOT_LEGACY" | "IS_LEGACY" | "INACTIVE";

/** The service is not in a state the operation applies to. */
export function serviceStateError(code: ServiceStateCode, message: string): AppError {
  return new AppError(code, message);
}

/** Cal.com's verdict in our words (never the key, never a response body). */
export function calcomFailure(err: unknown, _companyId: string): Error {
  if (err instanceof NotConnected) return new NotConnectedError();
  if (err instanceof InvalidCredentials) {
    return new AppError("CALCOM_INVALID_CREDENTIALS", `Cal.com rejected the company's API key (HTTP ${err.status ?? "?"}); reconnect it.`);
  }
  if (err instanceof RateLimited) {
    return new AppError("CALCOM_UNAVAILABLE", "Cal.com is rate limiting this API key; try again shortly.", { retryAfterMs: err.retryAfterMs });
  }
  if (err instanceof CalcomError) {
    return new AppError("CALCOM_UNAVAILABLE", `Cal.com could not be reached or answered badly (${err.code}); try again later.`);
  }
  return err instanceof Error ? err : new Error(String(err));
}
