/**
 * Structured JSON logging (pino). Every line carries `trace_id`, `span_id` and `correlation_id`
 * from the active OpenTelemetry context, so a log line leads to its trace and back.
 *
 * Logging never breaks an operation: the mixin cannot throw, and secrets are redacted by path
 * before serialisation.
 */
import { context, propagation, trace } from "@opentelemetry/api";
import pino, { type Logger } from "pino";

export type { Logger };

/** Baggage key carrying the request's correlation id through the process and into jobs. */
export const CORRELATION_BAGGAGE_KEY = "calsync.correlation_id";

export function currentCorrelationId(): string | undefined {
  return propagation.getBaggage(context.active())?.getEntry(CORRELATION_BAGGAGE_KEY)?.value;
}

/** Header paths redacted by pino itself (fixed depth). Everything else: see `redactDeep`. */
const REDACT = ['req.headers.authorization', 'req.headers["x-cal-signature-256"]', "headers.authorization"];

export const REDACTED = "[redacted]";

/**
 * Keys whose values never reach a log line, at any depth: credentials, and the personal data
 * Cal.com payloads carry (attendees, names, e-mail addresses, phone numbers, booking responses).
 * Matched case-insensitively on the key alone, wherever it sits: `payload.attendees[0].email`,
 * `booking.responses.phone`, `user.name`, …
 */
const SECRET_KEYS = ["apikey", "webhooksecret", "secret", "token", "password", "authorization", "x-cal-signature-256", "signature"];
const PERSONAL_KEYS = [
  "attendees", "attendee", "guests", "responses", "email", "emails", "useremail", "userprimaryemail", "attendeeemail",
  "cancelledby", "cancelledbyemail", "rescheduledby", "organizer", "firstname", "lastname", "fullname", "attendeename",
  "phone", "phonenumber", "attendeephonenumber", "smsremindernumber", "location", "notes", "description",
];
const REDACTED_KEYS: ReadonlySet<string> = new Set([...SECRET_KEYS, ...PERSONAL_KEYS]);

/** Parents under which `name` names an error (kept), not a person (redacted). */
const ERROR_KEYS: ReadonlySet<string> = new Set(["err", "error", "cause", "errors"]);

/** Deeper than this, a log value is replaced whole (log lines are small; this bounds the walk). */
const MAX_DEPTH = 10;

function isErrorLike(o: Record<string, unknown>): boolean {
  return typeof o["message"] === "string" && (typeof o["stack"] === "string" || typeof o["type"] === "string" || typeof o["code"] === "string");
}

/**
 * A copy of a log object with personal data and credentials redacted at any depth, by key.
 * `name` is redacted too (a person's name), except where it names an error: under `err`/`error`/
 * `cause`, or in an error-like object (one with a message and a stack, type or code). Error
 * instances are left to pino's error serializer (their name and message are kept).
 */
export function redactDeep(value: unknown, parentKey = "", depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Error || value instanceof Date || Buffer.isBuffer(value)) return value;
  if (depth >= MAX_DEPTH) return REDACTED;
  if (seen.has(value)) return "[circular]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, parentKey, depth + 1, seen));
  const source = value as Record<string, unknown>;
  const keepName = ERROR_KEYS.has(parentKey.toLowerCase()) || isErrorLike(source);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(source)) {
    const k = key.toLowerCase();
    if (REDACTED_KEYS.has(k) || (k === "name" && !keepName && typeof v !== "undefined")) out[key] = REDACTED;
    else out[key] = redactDeep(v, key, depth + 1, seen);
  }
  return out;
}

function correlationFields(): Record<string, string> {
  try {
    const fields: Record<string, string> = {};
    const span = trace.getActiveSpan()?.spanContext();
    if (span && span.traceId !== "00000000000000000000000000000000") {
      fields["trace_id"] = span.traceId;
      fields["span_id"] = span.spanId;
    }
    const correlationId = currentCorrelationId();
    if (correlationId) fields["correlation_id"] = correlationId;
    return fields;
  } catch {
    return {};
  }
}

export interface LoggerOptions {
  level?: string;
  /** Where lines go (Default: stdout). Tests pass a stream to capture them. */
  destination?: pino.DestinationStream;
}

/** A destination whose failures are swallowed: a broken log sink must not fail a request. */
function safe(destination: pino.DestinationStream): pino.DestinationStream {
  return {
    write(line: string) {
      try {
        destination.write(line);
      } catch {
        /* dropped: logging never breaks an operation */
      }
    },
  };
}

/** File descriptor of the default destination: 1 (stdout) for servers, 2 for CLI commands. */
let defaultFd: 1 | 2 = 1;

/**
 * Sends this process's log lines to stderr from now on: a CLI command's stdout carries its
 * result only (see src/cli/output.ts).
 */
export function logToStderr(): void {
  defaultFd = 2;
  root = createLogger({ level: root.level });
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: "calsync" },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: "msg",
      formatters: {
        level: (label) => ({ level: label }),
        // Personal data and credentials, at any depth (pino's own redaction is fixed-depth).
        log: (object) => redactDeep(object) as Record<string, unknown>,
      },
      redact: { paths: REDACT, censor: REDACTED },
      mixin: correlationFields,
    },
    safe(options.destination ?? pino.destination({ fd: defaultFd, sync: false })),
  );
}

/**
 * The process logger. `configureLogger` replaces it at start-up (level from LOG_LEVEL); child
 * loggers made from `log(component)` always follow the current root.
 */
let root: Logger = createLogger({ level: "info" });

export function configureLogger(options: LoggerOptions): Logger {
  root = createLogger(options);
  return root;
}

export type Component = "calcom" | "webhook" | "sync" | "worker" | "http" | "graphql" | "db" | "cli" | "orphans" | "reconcile" | "retention" | "shutdown";

const children = new Map<Component, { root: Logger; child: Logger }>();

function childOf(component: Component): Logger {
  let entry = children.get(component);
  if (!entry || entry.root !== root) {
    entry = { root, child: root.child({ component }) };
    children.set(component, entry);
  }
  return entry.child;
}

/**
 * The logger of one component. Safe to keep in a long-lived object: every call goes to the
 * current root (so LOG_LEVEL and destination set at start-up apply everywhere).
 */
export function log(component: Component): Logger {
  return new Proxy({} as Logger, {
    get(_target, prop) {
      const target = childOf(component);
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
