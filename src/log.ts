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

const REDACT = [
  "apiKey",
  "webhookSecret",
  "secret",
  "token",
  "password",
  "authorization",
  "*.apiKey",
  "*.webhookSecret",
  "*.secret",
  "*.token",
  "*.password",
  "*.authorization",
  "req.headers.authorization",
  'req.headers["x-cal-signature-256"]',
  "headers.authorization",
  "*.attendees",
  "*.email",
  "*.name",
];

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
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: "[redacted]" },
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
