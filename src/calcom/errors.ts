/**
 * Typed failures of the Cal.com API client. Callers branch on the class (or on `code`, which is
 * stable and safe to store in `syncError`), never on the message.
 *
 * Messages are built from our own words plus the request's method and path; text that comes
 * from Cal.com is shortened and has the API key cut out before it gets here. Response bodies are
 * never copied into a message (they can hold attendee data).
 */

export type CalcomErrorCode =
  | "CALCOM_INVALID_CREDENTIALS"
  | "CALCOM_NOT_FOUND"
  | "CALCOM_REQUEST_REJECTED"
  | "CALCOM_RATE_LIMITED"
  | "CALCOM_UNAVAILABLE"
  | "CALCOM_BAD_RESPONSE";

export abstract class CalcomError extends Error {
  abstract readonly code: CalcomErrorCode;
  /** HTTP status of the last response, when there was one. */
  readonly status?: number;

  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    if (status !== undefined) this.status = status;
  }
}

/** 401 or 403: the API key is wrong, revoked, or lacks the right for this resource. */
export class InvalidCredentials extends CalcomError {
  readonly code = "CALCOM_INVALID_CREDENTIALS";
}

/** 404: the event type (or team) does not exist or is not visible to this key. */
export class NotFound extends CalcomError {
  readonly code = "CALCOM_NOT_FOUND";
}

/** Any other 4xx (400 validation, 409, 422…): our request was refused; retrying will not help. */
export class RequestRejected extends CalcomError {
  readonly code = "CALCOM_REQUEST_REJECTED";
  /** Cal.com's exception name, e.g. `BadRequestException`, when the body had one. */
  readonly calcomCode: string | undefined;

  constructor(message: string, status: number, calcomCode: string | undefined) {
    super(message, status);
    this.calcomCode = calcomCode;
  }
}

/** 429 on every attempt, or a reset further away than the client is willing to wait. */
export class RateLimited extends CalcomError {
  readonly code = "CALCOM_RATE_LIMITED";
  /** How long Cal.com asked us to wait (or our backoff when it did not say). */
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super(message, 429);
    this.retryAfterMs = retryAfterMs;
  }
}

/** 5xx, network error or timeout on every attempt. */
export class Unavailable extends CalcomError {
  readonly code = "CALCOM_UNAVAILABLE";
  readonly attempts: number;

  constructor(message: string, attempts: number, status?: number, options?: ErrorOptions) {
    super(message, status, options);
    this.attempts = attempts;
  }
}

/** A 2xx whose body is not JSON or not the shape we expect (including the pre-2024-06-14 shape). */
export class BadResponse extends CalcomError {
  readonly code = "CALCOM_BAD_RESPONSE";
}
