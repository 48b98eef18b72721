/**
 * Expected failures, as GraphQL errors with a stable `extensions.code`. Anything else thrown in a
 * resolver is masked by Yoga as "Unexpected error." and logged with the correlation id.
 *
 * Codes: UNAUTHENTICATED (HTTP 401), FORBIDDEN, NOT_FOUND, BAD_USER_INPUT, CONFLICT,
 * CALCOM_INVALID_CREDENTIALS, CALCOM_UNAVAILABLE, RATE_LIMITED.
 */
import { GraphQLError } from "graphql";

export class AppError extends GraphQLError {
  constructor(code: string, message: string, extra: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extra } });
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
