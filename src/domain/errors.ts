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
