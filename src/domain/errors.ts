/**
 * Expected failures of calsync's domain: what a caller did wrong, or what stands in the way
 * (Cal.com refused, the object is gone). They know nothing of GraphQL or HTTP; the GraphQL layer
 * turns them into errors with `extensions.code` in one place (src/schema/errors.ts,
 * `maskError`), and the CLI prints their message.
 *
 * Codes are stable strings that clients branch on; the README's error-code table lists them all.
 * Anything thrown that is not an AppError is unexpected: masked as "Unexpected error." and logged.
 *
 * Compatibility: these classes used to be GraphQLErrors defined in src/schema/errors.ts. That
 * module still re-exports every one of them, and `extensions` is still readable here, so code
 * written against the old shape keeps working.
 */

/** Every code an AppError may carry. Add a code here and to the README's table together. */
export const ERROR_CODES = {
  UNAUTHENTICATED: "No or unknown bearer token (HTTP 401).",
  FORBIDDEN: "The object belongs to another company, or the operation needs the admin token.",
  NOT_FOUND: "The id names nothing (mutations; queries answer null instead).",
  BAD_USER_INPUT: "An argument is malformed or out of range; `extensions.field` names it.",
  CONFLICT: "The change collides with existing data (e.g. a slug already taken).",
  RATE_LIMITED: "Too many requests for this token; `extensions.retryAfterSeconds` says when to retry.",
  CALCOM_INVALID_CREDENTIALS: "Cal.com refused the API key (or its rights on the team).",
  CALCOM_UNAVAILABLE: "Cal.com could not be reached, answered badly, or is rate limiting the key.",
  CALCOM_NOT_TEAM_ADMIN: "The API key's Cal.com user is not an accepted ADMIN or OWNER of the team (connectCalcom with teamId).",
  CALCOM_REQUEST_REJECTED: "Cal.com refused the request outright (HTTP 4xx other than 401/403/404/429), e.g. an export's create.",
  NOT_CONNECTED: "The company has no Cal.com connection (link, export, import of linked rows).",
  EVENT_TYPE_NOT_FOUND: "linkService: the Cal.com event type is not one of the company's.",
  EVENT_TYPE_ALREADY_LINKED: "The Cal.com event type is linked to another service; `extensions.serviceId` names it.",
  ALREADY_LINKED: "The service is already linked to a Cal.com event type (unlink it first).",
  NOT_LINKED: "unlinkService: the service has no Cal.com event type.",
  NOT_LEGACY: "reactivateService: the service is not LEGACY.",
  IS_LEGACY: "exportServiceToCalcom: the service is LEGACY (reactivate it first).",
  INACTIVE: "exportServiceToCalcom: the service is inactive.",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly code: string;
  /** Machine-readable detail for the caller (e.g. `field`), safe to show: no secrets, no PII. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode | (string & {}), message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  /** The GraphQL-shaped view (`code` plus details), kept for code written against GraphQLError. */
  get extensions(): Record<string, unknown> {
    return { code: this.code, ...this.details };
  }
}

export class UnauthenticatedError extends AppError {
  constructor() {
    super("UNAUTHENTICATED", "A valid bearer token is required: Authorization: Bearer <token>.", {
      http: { status: 401 },
    });
  }
}

export class NotFoundError extends AppError {
  constructor(what: string) {
    super("NOT_FOUND", `${what} was not found.`);
  }
}

export class UserInputError extends AppError {
  constructor(message: string, field?: string) {
    super("BAD_USER_INPUT", message, field ? { field } : {});
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super("CONFLICT", message);
  }
}

export class ForbiddenError extends AppError {
  constructor() {
    super("FORBIDDEN", "You are not allowed to see or change this object.");
  }
}

export class RateLimitedError extends AppError {
  constructor(message: string, retryAfterSeconds: number) {
    super("RATE_LIMITED", message, { retryAfterSeconds });
  }
}
