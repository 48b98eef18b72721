/**
 * Cal.com API v2 client for event types (version 2024-06-14), one instance per API key.
 *
 * Every attempt awaits `acquire()` (the caller's rate budget), has its own timeout, and is
 * retried with full-jitter exponential backoff on network errors, timeouts, 5xx and 429. A 429
 * waits at least as long as Cal.com asks (`X-RateLimit-Reset-*` is *seconds until reset*, not an
 * epoch; `Retry-After` is honoured too). Other 4xx and malformed bodies fail at once.
 * Each call is one OpenTelemetry CLIENT span; failures are the typed errors of `errors.ts`.
 *
 * The API key lives in a private field and only ever leaves in the Authorization header.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import type { z } from "zod";
import { log } from "../log.ts";
import { Interrupted, isAbort, throwIfAborted } from "../worker/abort.ts";
import {
  BadResponse,
  CalcomError,
  InvalidCredentials,
  NotFound,
  RateLimited,
  RequestRejected,
  Unavailable,
} from "./errors.ts";
import { BOOKINGS_API_VERSION, bookingsPageEnvelope, bookingsQueryString, type BookingsPage, type ListBookingsQuery } from "./bookings.ts";
import {
  EVENT_TYPES_API_VERSION,
  deletedEventTypeEnvelope,
  errorEnvelopeSchema,
  eventTypeEnvelope,
  checkEventTypes,
  eventTypeListLenientEnvelope,
  type InvalidEventType,
  isLegacyEventTypeShape,
  meEnvelope,
  type CalcomEventType,
  type CalcomMe,
  type CreateEventTypeInput,
  type UpdateEventTypeInput,
} from "./event-types.ts";
import { MEMBERSHIPS_PAGE, membershipListEnvelope, type CalcomMembership } from "./teams.ts";

const tracer = trace.getTracer("calsync");

/** Rate-limit headers Cal.com sends on every response (for the `Default` limit). */
export interface RateLimitInfo {
  limit?: number;
  remaining?: number;
  resetSeconds?: number;
}

export interface CalcomClientOptions {
  /** API origin without `/v2`, e.g. `https://api.cal.com` (a trailing `/v2` is tolerated). */
  baseUrl: string;
  /** `cal_live_…` / `cal_…` key, sent as `Authorization: Bearer`. */
  apiKey: string;
  /** Use the team's event types (`/v2/teams/{teamId}/event-types`) instead of the key owner's. */
  teamId?: number;
  /** Per-attempt timeout, headers and body included (Default: 10000). */
  timeoutMs?: number;
  /** Attempts per call, the first included (Default: 5). */
  maxAttempts?: number;
  /** Backoff base: attempt n waits random(0, min(maxDelayMs, baseDelayMs·2^(n-1))) (Default: 250). */
  baseDelayMs?: number;
  /** Backoff ceiling (Default: 30000). */
  maxDelayMs?: number;
  /**
   * Longest 429 wait the client sits out itself (Default: 65000, Cal.com blocks for 60 s). A
   * longer reset fails at once with `RateLimited`, so a job can be rescheduled instead.
   */
  maxRateLimitWaitMs?: number;
  /** Proactive rate budget, awaited before every HTTP attempt (Default: none). */
  acquire?: (signal?: AbortSignal) => Promise<void>;
  /**
   * Aborts every request, retry wait, 429 wait and budget wait of this client (a worker shutting
   * down: graphile-worker's `helpers.abortSignal`); the call then throws `Interrupted`.
   */
  signal?: AbortSignal;
  /** Called with the wait before a retry that follows a 429. */
  onRateLimitWait?: (ms: number) => void;
  /** Called once per attempt: the HTTP status, or "error" for a network error / timeout. */
  onResponse?: (status: number | "error", rateLimit?: RateLimitInfo) => void;
  /** Added to every call's span, e.g. `calsync.company_id`. */
  spanAttributes?: Record<string, string | number>;
  /** Replaces the global `fetch` (Default: globalThis.fetch). */
  fetch?: typeof fetch;
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";

interface RequestSpec<S extends z.ZodType> {
  method: Method;
  path: string;
  /** Low-cardinality form of `path` for the span name, e.g. `/v2/event-types/{id}`. */
  route: string;
  schema: S;
  body?: unknown;
  /** Event-type endpoint: detect the pre-2024-06-14 shape. */
  eventTypes: boolean;
  /** `cal-api-version` (Default: the event types' 2024-06-14). */
  apiVersion?: string;
}

/** Why an attempt failed in a way worth retrying. */
type Retryable =
  | { kind: "network"; timedOut: boolean; cause: unknown }
  | { kind: "server"; status: number }
  | { kind: "rate_limited"; hintMs: number | undefined };

export class CalcomClient {
  readonly #apiKey: string;
  readonly #origin: string;
  readonly #teamId: number | undefined;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRateLimitWaitMs: number;
  readonly #acquire: (signal?: AbortSignal) => Promise<void>;
  readonly #signal: AbortSignal | undefined;
  readonly #onRateLimitWait: ((ms: number) => void) | undefined;
  readonly #onResponse: CalcomClientOptions["onResponse"];
  readonly #spanAttributes: Record<string, string | number>;
  readonly #fetch: typeof fetch | undefined;

  constructor(options: CalcomClientOptions) {
    if (!options.apiKey) throw new TypeError("CalcomClient: apiKey is required");
    const url = new URL(options.baseUrl);
    this.#origin = `${url.origin}${url.pathname.replace(/\/+$/, "").replace(/\/v2$/, "")}`;
    this.#apiKey = options.apiKey;
    this.#teamId = options.teamId;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#baseDelayMs = options.baseDelayMs ?? 250;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
    this.#maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 65_000;
    this.#acquire = options.acquire ?? (async () => {});
    this.#signal = options.signal;
    this.#onRateLimitWait = options.onRateLimitWait;
    this.#onResponse = options.onResponse;
    this.#spanAttributes = options.spanAttributes ?? {};
    this.#fetch = options.fetch;
  }

  /** All event types of the key's owner, or of `teamId`. Cal.com does not paginate this list. */
  async listEventTypes(): Promise<CalcomEventType[]> {
    return (await this.listEventTypesChecked()).eventTypes;
  }

  /**
   * The listing with each item checked on its own: the event types, and the items that are not
   * usable event types with the reason (one malformed event type fails nothing else).
   */
  async listEventTypesChecked(): Promise<{ eventTypes: CalcomEventType[]; invalid: InvalidEventType[] }> {
    const base = this.#eventTypesPath();
    const res = await this.#request({ method: "GET", path: base, route: base, schema: eventTypeListLenientEnvelope, eventTypes: true });
    return checkEventTypes(res.data);
  }

  async getEventType(id: number): Promise<CalcomEventType> {
    const res = await this.#request({ method: "GET", ...this.#byId(id), schema: eventTypeEnvelope, eventTypes: true });
    return res.data;
  }

  /** For a team, `schedulingType` defaults to "collective" (Cal.com requires one). */
  async createEventType(input: CreateEventTypeInput): Promise<CalcomEventType> {
    const body = this.#teamId !== undefined && input.schedulingType === undefined ? { ...input, schedulingType: "collective" } : input;
    const base = this.#eventTypesPath();
    const res = await this.#request({ method: "POST", path: base, route: base, schema: eventTypeEnvelope, body, eventTypes: true });
    return res.data;
  }

  async updateEventType(id: number, patch: UpdateEventTypeInput): Promise<CalcomEventType> {
    const res = await this.#request({ method: "PATCH", ...this.#byId(id), schema: eventTypeEnvelope, body: patch, eventTypes: true });
    return res.data;
  }

  async deleteEventType(id: number): Promise<void> {
    await this.#request({ method: "DELETE", ...this.#byId(id), schema: deletedEventTypeEnvelope, eventTypes: false });
  }

  /**
   * One page of the key's bookings (`GET /v2/bookings`, version 2024-08-13), sorted by updatedAt
   * ascending. For a team connection the team's bookings. See calcom/bookings.ts.
   */
  async listBookings(query: ListBookingsQuery): Promise<BookingsPage> {
    const qs = bookingsQueryString({ ...query, ...(this.#teamId !== undefined ? { teamId: this.#teamId } : {}) });
    const res = await this.#request({
      method: "GET",
      path: `/v2/bookings?${qs}`,
      route: "/v2/bookings",
      schema: bookingsPageEnvelope,
      eventTypes: false,
      apiVersion: BOOKINGS_API_VERSION,
    });
    return { bookings: res.data, hasNextPage: res.pagination?.hasNextPage ?? false };
  }

  /** One cheap authenticated call (`GET /v2/me`); throws `InvalidCredentials` for a bad key. */
  async verifyCredentials(): Promise<CalcomMe> {
    const res = await this.#request({ method: "GET", path: "/v2/me", route: "/v2/me", schema: meEnvelope, eventTypes: false });
    return res.data;
  }

  /**
   * Every membership of a team (`GET /v2/teams/{teamId}/memberships`, paged). Cal.com answers 403
   * unless the key's user administers the team; see `teams.ts` for what counts as proof.
   */
  async teamMemberships(teamId: number): Promise<CalcomMembership[]> {
    if (!Number.isSafeInteger(teamId)) throw new TypeError(`CalcomClient: team id must be an integer, got ${String(teamId)}`);
    const all: CalcomMembership[] = [];
    // Bounded: 40 pages of 250 members is far beyond any team calsync serves.
    for (let page = 0; page < 40; page++) {
      const path = `/v2/teams/${teamId}/memberships?take=${MEMBERSHIPS_PAGE}&skip=${page * MEMBERSHIPS_PAGE}`;
      const res = await this.#request({
        method: "GET",
        path,
        route: "/v2/teams/{teamId}/memberships",
        schema: membershipListEnvelope,
        eventTypes: false,
      });
      all.push(...res.data);
      if (res.data.length < MEMBERSHIPS_PAGE) break;
    }
    return all;
  }

  #eventTypesPath(): string {
    return this.#teamId === undefined ? "/v2/event-types" : `/v2/teams/${this.#teamId}/event-types`;
  }

  #byId(id: number): { path: string; route: string } {
    if (!Number.isSafeInteger(id)) throw new TypeError(`CalcomClient: event type id must be an integer, got ${String(id)}`);
    const base = this.#eventTypesPath();
    const route = this.#teamId === undefined ? `${base}/{id}` : "/v2/teams/{teamId}/event-types/{id}";
    return { path: `${base}/${id}`, route };
  }

  #request<S extends z.ZodType>(spec: RequestSpec<S>): Promise<z.output<S>> {
    return tracer.startActiveSpan(
      `calcom ${spec.method} ${spec.route}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          "http.request.method": spec.method,
          "url.path": spec.path.split("?")[0]!,
          ...(spec.path.includes("?") ? { "url.query": spec.path.slice(spec.path.indexOf("?") + 1) } : {}),
          "server.address": new URL(this.#origin).hostname,
          ...(this.#teamId !== undefined ? { "calsync.calcom.team_id": this.#teamId } : {}),
          ...this.#spanAttributes,
        },
      },
      async (span) => {
        try {
          return await this.#attempts(spec, span);
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err));
          span.recordException(error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
          span.setAttribute("error.type", err instanceof CalcomError ? err.code : error.name);
          throw err;
        } finally {
          span.end();
        }
      },
    );
  }

  async #attempts<S extends z.ZodType>(spec: RequestSpec<S>, span: Span): Promise<z.output<S>> {
    const label = `Cal.com ${spec.method} ${spec.path}`;
    for (let attempt = 1; ; attempt++) {
      span.setAttribute("calsync.calcom.attempts", attempt);
      throwIfAborted(this.#signal, label);
      await this.#acquire(this.#signal);
      const outcome = await this.#once(spec, span, label);
      if (outcome.kind === "done") return outcome.value;
      const failure = outcome.failure;
      const backoff = Math.round(Math.random() * Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1)));

      if (failure.kind === "rate_limited") {
        const hint = failure.hintMs;
        if (attempt >= this.#maxAttempts || (hint !== undefined && hint > this.#maxRateLimitWaitMs)) {
          const retryAfterMs = hint ?? backoff;
          throw new RateLimited(`${label}: rate limited by Cal.com after ${attempt} attempt(s); retry in ${retryAfterMs} ms`, retryAfterMs);
        }
        // At least what Cal.com asked for, plus jitter so parallel workers do not return together.
        const wait = hint === undefined ? backoff : hint + Math.round(Math.random() * this.#baseDelayMs);
        span.addEvent("calcom.rate_limit_wait", { "calsync.calcom.wait_ms": wait, "calsync.calcom.attempt": attempt });
        this.#onRateLimitWait?.(wait);
        log("calcom").warn({ method: spec.method, path: spec.path, attempt, waitMs: wait }, "calcom rate limited, waiting");
        await this.#sleep(wait, label);
        continue;
      }

      if (attempt >= this.#maxAttempts) {
        if (failure.kind === "server") {
          throw new Unavailable(`${label}: Cal.com answered ${failure.status} on all ${attempt} attempt(s)`, attempt, failure.status);
        }
        const why = failure.timedOut ? `timed out after ${this.#timeoutMs} ms` : "network error";
        throw new Unavailable(`${label}: ${why} on all ${attempt} attempt(s)`, attempt, undefined, { cause: failure.cause });
      }
      log("calcom").warn(
        {
          method: spec.method,
          path: spec.path,
          attempt,
          waitMs: backoff,
          ...(failure.kind === "server" ? { status: failure.status } : { timedOut: failure.timedOut }),
        },
        "calcom request failed, retrying",
      );
      await this.#sleep(backoff, label);
    }
  }

  /** A wait between attempts that ends early (with `Interrupted`) when the client's signal fires. */
  async #sleep(ms: number, label: string): Promise<void> {
    try {
      await sleep(ms, undefined, this.#signal ? { signal: this.#signal } : {});
    } catch (err) {
      if (isAbort(err, this.#signal)) throw new Interrupted(label);
      throw err;
    }
  }

  /** One HTTP attempt: the parsed body, a retryable failure, or a thrown final error. */
  async #once<S extends z.ZodType>(
    spec: RequestSpec<S>,
    span: Span,
    label: string,
  ): Promise<{ kind: "done"; value: z.output<S> } | { kind: "retry"; failure: Retryable }> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#apiKey}`,
      "cal-api-version": spec.apiVersion ?? EVENT_TYPES_API_VERSION,
      Accept: "application/json",
    };
    if (spec.body !== undefined) headers["Content-Type"] = "application/json";

    let status: number | undefined;
    let text: string;
    try {
      const res = await (this.#fetch ?? fetch)(`${this.#origin}${spec.path}`, {
        method: spec.method,
        headers,
        ...(spec.body !== undefined ? { body: JSON.stringify(spec.body) } : {}),
        signal: this.#signal ? AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#signal]) : AbortSignal.timeout(this.#timeoutMs),
      });
      status = res.status;
      span.setAttribute("http.response.status_code", status);
      this.#onResponse?.(status, rateLimitInfo(res.headers));
      if (status === 429) {
        void res.body?.cancel().catch(() => {});
        return { kind: "retry", failure: { kind: "rate_limited", hintMs: rateLimitHintMs(res.headers) } };
      }
      if (status >= 500) {
        void res.body?.cancel().catch(() => {});
        return { kind: "retry", failure: { kind: "server", status } };
      }
      text = await res.text();
    } catch (cause) {
      if (this.#signal?.aborted) throw new Interrupted(label);
      // A body that breaks off after the status line was already counted under its status.
      if (status === undefined) this.#onResponse?.("error");
      return { kind: "retry", failure: { kind: "network", timedOut: isTimeout(cause), cause } };
    }

    const json = parseJson(text);
    if (status < 200 || status >= 300) throw this.#clientError(status, json, label);
    if (json === undefined) throw new BadResponse(`${label}: response body is not JSON (status ${status})`, status);
    if (spec.eventTypes && isLegacyEventTypeShape((json as { data?: unknown } | null)?.data)) {
      throw new BadResponse(
        `${label}: Cal.com returned the pre-2024-06-14 event type shape (\`length\`, no \`lengthInMinutes\`); ` +
          "the cal-api-version header was ignored or stripped",
        status,
      );
    }
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) throw new BadResponse(`${label}: unexpected response shape: ${summarizeIssues(parsed.error)}`, status);
    return { kind: "done", value: parsed.data };
  }

  #clientError(status: number, json: unknown, label: string): CalcomError {
    const envelope = errorEnvelopeSchema.safeParse(json);
    const code = envelope.success ? envelope.data.error.code : undefined;
    const remote = envelope.success ? envelope.data.error.message : undefined;
    const detail = [code, remote && this.#clean(remote)].filter(Boolean).join(": ");
    const suffix = detail ? ` (${detail})` : "";
    if (status === 401 || status === 403) return new InvalidCredentials(`${label}: Cal.com rejected the API key with ${status}${suffix}`, status);
    if (status === 404) return new NotFound(`${label}: not found (404)${suffix}`, status);
    return new RequestRejected(`${label}: Cal.com refused the request with ${status}${suffix}`, status, code);
  }

  /** Cal.com's own error text, one line, short, and never with our key in it. */
  #clean(text: string): string {
    const oneLine = text.split(this.#apiKey).join("[redacted]").replace(/\s+/g, " ").trim();
    return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || (err.cause instanceof Error && err.cause.name === "TimeoutError"));
}

/** "data.3.lengthInMinutes: Invalid input: expected number, received undefined; …" (types only, no values). */
function summarizeIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  if (error.issues.length > 3) shown.push(`and ${error.issues.length - 3} more`);
  return shown.join("; ");
}

function numberHeader(headers: Headers, name: string): number | undefined {
  const raw = headers.get(name);
  if (raw === null || raw.trim() === "") return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

function rateLimitInfo(headers: Headers): RateLimitInfo | undefined {
  const info: RateLimitInfo = {};
  const limit = numberHeader(headers, "x-ratelimit-limit-default");
  const remaining = numberHeader(headers, "x-ratelimit-remaining-default");
  const reset = numberHeader(headers, "x-ratelimit-reset-default");
  if (limit !== undefined) info.limit = limit;
  if (remaining !== undefined) info.remaining = remaining;
  if (reset !== undefined) info.resetSeconds = reset;
  return Object.keys(info).length > 0 ? info : undefined;
}

/**
 * How long a 429 asks us to wait, in ms: the largest of `Retry-After` (seconds or HTTP-date) and
 * the `X-RateLimit-Reset-<Name>` of every exhausted limit (seconds until reset; Cal.com can have
 * several named limits per key, `Default` normally).
 */
function rateLimitHintMs(headers: Headers, now = Date.now()): number | undefined {
  const hints: number[] = [];
  const retryAfter = headers.get("retry-after")?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) hints.push(Number(retryAfter) * 1000);
    else {
      const at = Date.parse(retryAfter);
      if (Number.isFinite(at)) hints.push(Math.max(0, at - now));
    }
  }
  const exhausted: number[] = [];
  const all: number[] = [];
  headers.forEach((value, key) => {
    const m = /^x-ratelimit-reset-(.+)$/.exec(key);
    if (!m) return;
    const seconds = Number(value);
    if (!Number.isFinite(seconds) || seconds < 0) return;
    all.push(seconds * 1000);
    if (headers.get(`x-ratelimit-remaining-${m[1]}`) === "0") exhausted.push(seconds * 1000);
  });
  hints.push(...(exhausted.length > 0 ? exhausted : all));
  return hints.length > 0 ? Math.ceil(Math.max(...hints)) : undefined;
}
