/**
 * Where every error reaches GraphQL: one mapping from what was thrown to what a client sees.
 *
 * - An AppError (src/domain/errors.ts) becomes a GraphQLError with `extensions.code` and its
 *   details (e.g. `field`), at the path where it was thrown.
 * - Errors the schema's own machinery raises for bad client input (Pothos' "Invalid global ID",
 *   "ID: … is not of type: Company", "Invalid cursor", a negative `first`) get `BAD_USER_INPUT`
 *   and, where it can be told, the argument in `field`.
 * - Errors graphql-js, Yoga or a plugin already coded pass through unchanged.
 * - Anything else is unexpected: masked as "Unexpected error." (INTERNAL_SERVER_ERROR) and logged.
 *
 * The error classes used to be defined here as GraphQLErrors; they now live beside the domain and
 * are re-exported, so `import { NotFoundError } from "../schema/errors.ts"` keeps working.
 */
import { GraphQLError, Kind, type ArgumentNode, type FieldNode, type ValueNode } from "graphql";
import { maskError as yogaMaskError } from "graphql-yoga";
import { PothosValidationError } from "@pothos/core";
import { AppError } from "../domain/errors.ts";

export {
  AppError,
  ConflictError,
  ERROR_CODES,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  UserInputError,
  type ErrorCode,
} from "../domain/errors.ts";

/** HTTP status a response takes when an error of this code is the reason it has no data. */
const HTTP_STATUS: Record<string, number> = { UNAUTHENTICATED: 401, RATE_LIMITED: 429 };

function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

function located(error: unknown): GraphQLError | undefined {
  return error instanceof GraphQLError ? error : undefined;
}

/** Copies where an error happened (path, locations, source) onto the client-facing error. */
function rebuild(from: GraphQLError | undefined, message: string, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(message, {
    ...(from?.nodes ? { nodes: from.nodes } : {}),
    ...(from?.source ? { source: from.source } : {}),
    ...(from?.positions ? { positions: from.positions } : {}),
    ...(from?.path ? { path: from.path } : {}),
    extensions,
  });
}

function fieldNodeOf(error: GraphQLError | undefined): FieldNode | undefined {
  const node = error?.nodes?.[0];
  return node?.kind === Kind.FIELD ? node : undefined;
}

/** The dotted path of the argument (or input field) whose string literal is `value`. */
function findLiteral(args: readonly ArgumentNode[], value: string): string | undefined {
  const walk = (node: ValueNode, path: string): string | undefined => {
    if (node.kind === Kind.STRING && node.value === value) return path;
    if (node.kind === Kind.LIST) {
      for (const item of node.values) {
        const hit = walk(item, path);
        if (hit) return hit;
      }
    }
    if (node.kind === Kind.OBJECT) {
      for (const f of node.fields) {
        const hit = walk(f.value, `${path}.${f.name.value}`);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  for (const arg of args) {
    const hit = walk(arg.value, arg.name.value);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Which argument a Pothos validation error is about. The message says what was wrong but not
 * where; the field's AST says which arguments were given. Best effort: the argument holding the
 * offending literal, else the only id-like argument, else the only argument.
 */
function argumentOf(message: string, error: GraphQLError | undefined): string | undefined {
  const field = fieldNodeOf(error);
  const args = field?.arguments ?? [];
  const quoted = /"(first|last)"/.exec(message);
  if (quoted) return quoted[1];
  if (/cursor/i.test(message)) {
    const names = args.map((a) => a.name.value);
    return names.includes("after") ? "after" : names.includes("before") ? "before" : "after";
  }
  const id = /^(?:Invalid global ID: |ID: )(.*?)(?: is not of type: .*)?$/s.exec(message)?.[1];
  if (id !== undefined) {
    const literal = findLiteral(args, id);
    if (literal) return literal;
    const idLike = args.filter((a) => /(^id$|Id$|^ids$|Ids$)/.test(a.name.value));
    if (idLike.length === 1) return idLike[0]!.name.value;
  }
  return args.length === 1 ? args[0]!.name.value : undefined;
}

/** Client-facing message for a Pothos validation error (Pothos' own wording, made plainer). */
function plainMessage(message: string): string {
  if (message.startsWith("Invalid global ID")) return `${message} (ids are the opaque strings calsync returned).`;
  if (message.startsWith("ID: ")) return message.replace(/^ID: /, "The id ").replace(" is not of type: ", " does not name a ");
  if (message.startsWith("Invalid cursor")) return "Invalid cursor: pass an endCursor or startCursor this connection returned.";
  return message;
}

/**
 * Yoga's `maskedErrors.maskError`: the single mapping described at the top of this file. Also
 * used for errors thrown while building the context (UNAUTHENTICATED) and during subscriptions.
 */
export function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const cause = rootCause(error);
  const at = located(error);
  if (cause instanceof AppError) {
    const extensions: Record<string, unknown> = { code: cause.code, ...cause.details };
    const status = HTTP_STATUS[cause.code];
    const retryAfter = cause.details["retryAfterSeconds"];
    if (status && !extensions["http"]) {
      extensions["http"] = { status, ...(typeof retryAfter === "number" ? { headers: { "retry-after": String(retryAfter) } } : {}) };
    }
    return rebuild(at, cause.message, extensions);
  }
  if (cause instanceof PothosValidationError) {
    if (/not implemented/i.test(cause.message)) {
      return rebuild(at, "This field is not implemented yet.", { code: "NOT_IMPLEMENTED" });
    }
    const field = argumentOf(cause.message, at);
    return rebuild(at, plainMessage(cause.message), { code: "BAD_USER_INPUT", ...(field ? { field } : {}) });
  }
  // graphql-js' own errors (validation, variable coercion) and coded plugin errors pass through.
  if (cause instanceof GraphQLError) return at ?? cause;
  return yogaMaskError(error, message, isDev);
}
