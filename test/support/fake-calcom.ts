/**
 * A stand-in for Cal.com API v2 (event types, version 2024-06-14) on a real HTTP server, for
 * tests and benchmarks. Shapes follow /work/shared/calcom.md §3:
 *
 * - `GET /v2/me`; `GET|POST /v2/event-types`; `GET|PATCH|DELETE /v2/event-types/:id`; the same
 *   under `/v2/teams/:teamId/event-types` (the key must administer the team, else 403;
 *   `unguardTeamEventTypes()` lets any valid key read them, as one Cal.com snapshot does).
 * - `GET /v2/teams/:teamId/memberships?take&skip` (calcom.md §5): needs an ADMIN/OWNER membership
 *   (the role guard ignores `accepted`, as Cal.com's does), else 403; items
 *   `{id, userId, teamId, accepted, role, user}`.
 * - Envelopes `{"status":"success","data":…}` / `{"status":"error","timestamp","path","error":{code,message}}`.
 * - Without `cal-api-version: 2024-06-14` event types come in the old shape (`length`, not
 *   `lengthInMinutes`); `serveLegacyShape(true)` does so even with the header (calcom#17769).
 * - List output drops booking fields with `hidden: true`, like Cal.com's.
 * - Rate limit per API key (Default: 120 per 60 s, then blocked for 60 s), with
 *   `X-RateLimit-{Limit,Remaining,Reset}-Default` on every response, Reset in seconds, and a
 *   `ThrottlerException` 429 without `Retry-After`.
 *
 * - `GET /v2/bookings` (version 2024-08-13; without it the older controller's shape): filters
 *   `afterUpdatedAt`/`beforeUpdatedAt` (inclusive), `sortUpdatedAt`, `take` (1-250, Default 100),
 *   `skip`, `teamId`; `pagination.totalItems` ignores the updated filters and equal `updatedAt`s
 *   come back in random order, as Cal.com's do (calcom.md §5). Bookings carry attendees with
 *   names, e-mails and phone numbers, so tests can check none of it is kept.
 *
 * Faults (`fault(...)`) apply to the next matching requests in queue order (`hangAfterHandling`:
 * the request takes effect, e.g. `POST /v2/event-types` creates, but no answer ever comes). Every request is
 * logged (without its Authorization header) with monotonic timestamps for timing assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export const DEFAULT_API_KEY = "cal_test_fakekey_0000000000000000";
const VERSION = "2024-06-14";

export interface FakeCalcomOptions {
  /** Accepted API keys; each one is a separate user with its own event types (Default: [DEFAULT_API_KEY]). */
  apiKeys?: string[];
  /** Teams: team id → the API keys that administer it (accepted ADMIN members). */
  teams?: Record<number, string[]>;
  /** Requests per key per window; `false` turns limiting off (Default: 120 per 60000 ms, block 60000 ms). */
  rateLimit?: { limit?: number; windowMs?: number; blockMs?: number } | false;
  /** Added before every answer (Default: 0). */
  latencyMs?: number;
}

export interface FaultMatch {
  /** Exact pathname (no query) or a pattern; Default: every path. */
  path?: string | RegExp;
  method?: string;
  /** How many matching requests get this fault (Default: 1; `Infinity` for all). */
  times?: number;
  /** Let this many matching requests through untouched first (Default: 0). */
  skip?: number;
  /** Extra response headers, e.g. `{ "Retry-After": "2" }`. */
  headers?: Record<string, string>;
}

export type Fault = FaultMatch &
  (
    | { status: 429; /** `X-RateLimit-Reset-Default` (Default: 1); null sends no rate-limit headers. */ resetSeconds?: number | null }
    | { status: 500 | 502 | 503 | 504 }
    | { hang: true }
    /** The real answer's headers and first half of its body, then nothing: a hang mid-listing. */
    | { stallMidBody: true }
    /** The request is carried out (an event type is created, changed or deleted), then never answered: a timeout after the write. */
    | { hangAfterHandling: true }
    | { badJson: true; status?: number }
    | { body: unknown; status?: number }
  );

export interface FakeRequest {
  method: string;
  /** Pathname without the query. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased request headers, without `authorization`. */
  headers: Record<string, string | string[] | undefined>;
  /** Scheme of the Authorization header ("Bearer"), if any. */
  authScheme: string | undefined;
  /** The user whose configured key was presented, if it was one. */
  userId: number | undefined;
  body: unknown;
  /** Arrival time, `performance.now()` (monotonic ms). */
  time: number;
  /** Arrival time, `Date.now()`. */
  wallTime: number;
  /** Status sent; undefined while pending or for a hang. */
  status: number | undefined;
  fault: string | undefined;
}

export type TeamRole = "MEMBER" | "ADMIN" | "OWNER";

export interface FakeMembership {
  id: number;
  role: TeamRole;
  accepted: boolean;
}

export interface FakeUser {
  id: number;
  username: string;
  email: string;
  name: string;
}

/** A stored event type: the full 2024-06-14 output object. */
export interface FakeEventType {
  id: number;
  title: string;
  slug: string;
  lengthInMinutes: number;
  [field: string]: unknown;
}

export type EventTypeSeed = Partial<FakeEventType>;

/** A stored booking: the 2024-08-13 output object (times as ISO strings). */
export interface FakeBooking {
  id: number;
  uid: string;
  title: string;
  status: "accepted" | "cancelled" | "rejected" | "pending";
  start: string;
  end: string;
  eventTypeId: number | null;
  rescheduledFromUid: string | null;
  rescheduledToUid: string | null;
  createdAt: string;
  updatedAt: string;
  [field: string]: unknown;
}

export type BookingSeed = Partial<FakeBooking>;

export const BOOKINGS_VERSION = "2024-08-13";

/** Whose event types: an API key (its user's personal ones) or a team. */
export type Owner = string | { teamId: number };

type StoredFault = Fault & { remaining: number };

interface Bucket {
  windowEnd: number;
  count: number;
  blockedUntil: number;
}

const TEAM_ROUTE = /^\/v2\/teams\/([^/]+)\/event-types(?:\/([^/]+))?\/?$/;
const MEMBERSHIPS_ROUTE = /^\/v2\/teams\/([^/]+)\/memberships\/?$/;
const PERSONAL_ROUTE = /^\/v2\/event-types(?:\/([^/]+))?\/?$/;

export class FakeCalcom {
  readonly #users = new Map<string, FakeUser>();
  readonly #teams = new Map<number, Map<string, FakeMembership>>();
  #teamEventTypesUnguarded = false;
  #nextMembershipId = 1;
  readonly #stores = new Map<string, Map<number, FakeEventType>>();
  readonly #bookings = new Map<string, Map<string, FakeBooking>>();
  #nextBookingId = 50_001;
  readonly #faults: StoredFault[] = [];
  readonly #log: FakeRequest[] = [];
  readonly #buckets = new Map<string, Bucket>();
  readonly #limit: { limit: number; windowMs: number; blockMs: number } | false;
  #latencyMs: number;
  #legacyAlways = false;
  #nextId = 1001;
  #nextUserId = 1;
  #inFlight = 0;
  #maxConcurrent = 0;
  #server: Server | undefined;
  url = "";

  constructor(options: FakeCalcomOptions = {}) {
    for (const key of options.apiKeys ?? [DEFAULT_API_KEY]) this.addApiKey(key);
    for (const [teamId, keys] of Object.entries(options.teams ?? {})) this.addTeam(Number(teamId), keys);
    this.#limit =
      options.rateLimit === false
        ? false
        : {
            limit: options.rateLimit?.limit ?? 120,
            windowMs: options.rateLimit?.windowMs ?? 60_000,
            blockMs: options.rateLimit?.blockMs ?? options.rateLimit?.windowMs ?? 60_000,
          };
    this.#latencyMs = options.latencyMs ?? 0;
  }

  // ---- lifecycle ----

  async start(): Promise<{ url: string; close: () => Promise<void> }> {
    const server = createServer((req, res) => void this.#handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url: this.url, close: () => this.close() };
  }

  /** Stops listening and ends every open socket, hanging requests included. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- accounts ----

  addApiKey(apiKey: string): FakeUser {
    const existing = this.#users.get(apiKey);
    if (existing) return existing;
    const id = this.#nextUserId++;
    const user = { id, username: `user${id}`, email: `user${id}@example.com`, name: `User ${id}` };
    this.#users.set(apiKey, user);
    return user;
  }

  user(apiKey: string): FakeUser {
    const user = this.#users.get(apiKey);
    if (!user) throw new Error("fake-calcom: unknown API key");
    return user;
  }

  /** Makes each key's user an accepted ADMIN of the team (creating the team). */
  addTeam(teamId: number, apiKeys: string[]): void {
    const members = this.#teams.get(teamId) ?? new Map<string, FakeMembership>();
    this.#teams.set(teamId, members);
    for (const key of apiKeys) this.addTeamMember(teamId, key, { role: "ADMIN", accepted: true });
  }

  /** Adds (or changes) one membership: any role, accepted or only invited. */
  addTeamMember(teamId: number, apiKey: string, options: { role?: TeamRole; accepted?: boolean } = {}): void {
    this.user(apiKey);
    const members = this.#teams.get(teamId) ?? new Map<string, FakeMembership>();
    this.#teams.set(teamId, members);
    const id = members.get(apiKey)?.id ?? this.#nextMembershipId++;
    members.set(apiKey, { id, role: options.role ?? "MEMBER", accepted: options.accepted ?? true });
  }

  removeTeamMember(teamId: number, apiKey: string): void {
    this.#teams.get(teamId)?.delete(apiKey);
  }

  /** Any valid key may read (GET) any team's event types, as in a Cal.com snapshot without the guard. */
  unguardTeamEventTypes(unguarded = true): void {
    this.#teamEventTypesUnguarded = unguarded;
  }

  #isTeamAdmin(teamId: number, apiKey: string): boolean {
    const m = this.#teams.get(teamId)?.get(apiKey);
    return !!m && (m.role === "ADMIN" || m.role === "OWNER");
  }

  // ---- event types ----

  /** Adds `n` generated event types, or one per seed; returns the stored objects. */
  addEventTypes(owner: Owner, seeds: number | EventTypeSeed[]): FakeEventType[] {
    const store = this.#store(owner);
    const list = typeof seeds === "number" ? Array.from({ length: seeds }, () => ({})) : seeds;
    return list.map((seed) => {
      const et = this.#build(owner, seed);
      store.set(et.id, et);
      return et;
    });
  }

  /** Replaces all of the owner's event types. */
  setEventTypes(owner: Owner, seeds: number | EventTypeSeed[]): FakeEventType[] {
    this.#store(owner).clear();
    return this.addEventTypes(owner, seeds);
  }

  removeEventType(owner: Owner, id: number): boolean {
    return this.#store(owner).delete(id);
  }

  updateEventType(owner: Owner, id: number, patch: EventTypeSeed): FakeEventType {
    const et = this.#store(owner).get(id);
    if (!et) throw new Error(`fake-calcom: no event type ${id}`);
    Object.assign(et, patch, { id });
    return et;
  }

  /** The stored objects (live; do not mutate, use `updateEventType`). */
  eventTypes(owner: Owner): FakeEventType[] {
    return [...this.#store(owner).values()];
  }

  // ---- bookings ----

  /** Adds bookings (attendee data generated); returns the stored objects. */
  addBookings(owner: Owner, seeds: number | BookingSeed[]): FakeBooking[] {
    const store = this.#bookingStore(owner);
    const list: BookingSeed[] = typeof seeds === "number" ? Array.from({ length: seeds }, () => ({})) : seeds;
    return list.map((seed) => {
      const id = seed.id ?? this.#nextBookingId++;
      const now = new Date().toISOString();
      const start = seed.start ?? new Date(Date.UTC(2030, 0, 1, 9) + id * 3_600_000).toISOString();
      const booking: FakeBooking = {
        id,
        uid: `fake-bk-${id}`,
        title: `30 Min Meeting between Olivia Organizer and Attendee ${id}`,
        description: `Notes from Attendee ${id}`,
        hosts: [{ id: 1, name: "Olivia Organizer", email: "olivia@example.com", username: "olivia", timeZone: "Europe/London" }],
        status: "accepted",
        cancellationReason: null,
        cancelledByEmail: null,
        rescheduledFromUid: null,
        rescheduledToUid: null,
        start,
        end: new Date(Date.parse(start) + 30 * 60_000).toISOString(),
        duration: 30,
        eventTypeId: null,
        attendees: [
          { name: `Attendee ${id}`, email: `attendee${id}@example.com`, phoneNumber: `+4470000${String(id).padStart(5, "0")}`, timeZone: "Europe/London", language: "en", absent: false },
        ],
        bookingFieldsResponses: { name: `Attendee ${id}`, email: `attendee${id}@example.com`, attendeePhoneNumber: `+4470000${String(id).padStart(5, "0")}` },
        location: "integrations:daily",
        metadata: {},
        createdAt: now,
        updatedAt: now,
        ...seed,
      };
      booking.id = id;
      if (seed.end === undefined && seed.start !== undefined) booking.end = new Date(Date.parse(start) + 30 * 60_000).toISOString();
      store.set(booking.uid, booking);
      return booking;
    });
  }

  /** Changes a booking as Cal.com would, moving its `updatedAt` (to `at`, Default now). */
  updateBooking(owner: Owner, uid: string, patch: BookingSeed, at: Date = new Date()): FakeBooking {
    const booking = this.#bookingStore(owner).get(uid);
    if (!booking) throw new Error(`fake-calcom: no booking ${uid}`);
    Object.assign(booking, patch, { uid, updatedAt: at.toISOString() });
    return booking;
  }

  cancelBooking(owner: Owner, uid: string, at: Date = new Date()): FakeBooking {
    return this.updateBooking(owner, uid, { status: "cancelled", cancellationReason: "Attendee cannot make it", cancelledByEmail: "attendee@example.com" }, at);
  }

  /** Cal.com's reschedule: a new booking (new uid) and the old one cancelled, pointing at it. */
  rescheduleBooking(owner: Owner, uid: string, start: string, at: Date = new Date()): { old: FakeBooking; created: FakeBooking } {
    const old = this.#bookingStore(owner).get(uid);
    if (!old) throw new Error(`fake-calcom: no booking ${uid}`);
    const [created] = this.addBookings(owner, [
      { start, eventTypeId: old.eventTypeId, title: old.title, rescheduledFromUid: uid, createdAt: at.toISOString(), updatedAt: at.toISOString() },
    ]);
    this.updateBooking(owner, uid, { status: "cancelled", rescheduledToUid: created!.uid }, at);
    return { old, created: created! };
  }

  /** The stored bookings (live; change them with `updateBooking`). */
  bookings(owner: Owner): FakeBooking[] {
    return [...this.#bookingStore(owner).values()];
  }

  /** Serve the old shape even when the version header is right (calcom#17769). */
  serveLegacyShape(always = true): void {
    this.#legacyAlways = always;
  }

  setLatency(ms: number): void {
    this.#latencyMs = ms;
  }

  // ---- faults ----

  /** Queues faults; each applies to the next `times` requests that match it. */
  fault(...faults: Fault[]): void {
    for (const f of faults) this.#faults.push({ ...f, remaining: f.times ?? 1 });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  get pendingFaults(): number {
    return this.#faults.length;
  }

  // ---- observation ----

  get requests(): readonly FakeRequest[] {
    return this.#log;
  }

  requestsTo(path: string | RegExp, method?: string): FakeRequest[] {
    return this.#log.filter((r) => matches(path, r.path) && (method === undefined || r.method === method.toUpperCase()));
  }

  /** Most requests in flight at once since start or `clearLog()`. */
  get maxConcurrent(): number {
    return this.#maxConcurrent;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Most requests that arrived within any `windowMs`-long interval (sliding). */
  requestsPerWindow(windowMs: number): number {
    const times = this.#log.map((r) => r.time).sort((a, b) => a - b);
    let best = 0;
    for (let lo = 0, hi = 0; hi < times.length; hi++) {
      while (times[hi]! - times[lo]! >= windowMs) lo++;
      best = Math.max(best, hi - lo + 1);
    }
    return best;
  }

  clearLog(): void {
    this.#log.length = 0;
    this.#maxConcurrent = this.#inFlight;
  }

  resetRateLimits(): void {
    this.#buckets.clear();
  }

  // ---- HTTP ----

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#inFlight++;
    this.#maxConcurrent = Math.max(this.#maxConcurrent, this.#inFlight);
    res.on("close", () => this.#inFlight--);

    const url = new URL(req.url ?? "/", "http://fake");
    const { authorization, ...headers } = req.headers;
    const [scheme, token] = (authorization ?? "").split(" ", 2);
    const user = scheme?.toLowerCase() === "bearer" && token ? this.#users.get(token) : undefined;
    const entry: FakeRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      authScheme: scheme || undefined,
      userId: user?.id,
      body: undefined,
      time: performance.now(),
      wallTime: Date.now(),
      status: undefined,
      fault: undefined,
    };
    this.#log.push(entry);
    let stall = false;
    const send = (status: number, body: unknown, extra: Record<string, string> = {}): void => {
      entry.status = status;
      if (res.destroyed) return;
      const text = typeof body === "string" ? body : JSON.stringify(body);
      if (stall) {
        // Never finished; close() ends the socket.
        res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), ...extra });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        return;
      }
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...extra });
      res.end(text);
    };
    const error = (status: number, code: string, message: string, extra: Record<string, string> = {}): void =>
      send(status, { status: "error", timestamp: new Date().toISOString(), path: url.pathname, error: { code, message } }, extra);

    try {
      const raw = await readBody(req);
      if (raw) entry.body = safeJson(raw) ?? raw;
      if (this.#latencyMs > 0) await sleep(this.#latencyMs);

      const limited = this.#rateLimit(token || req.socket.remoteAddress || "ip");
      if (limited.blocked) {
        const msg = "Too many requests. Please try again later.";
        return send(
          429,
          { status: "error", timestamp: new Date().toISOString(), path: url.pathname, error: { code: "ThrottlerException", message: msg, details: msg } },
          limited.headers,
        );
      }

      const fault = this.#takeFault(entry);
      if (fault) {
        entry.fault = describeFault(fault);
        const extra = { ...limited.headers, ...fault.headers };
        if ("hang" in fault) return; // never answered; close() ends the socket
        if ("stallMidBody" in fault) {
          stall = true;
        } else {
          if ("hangAfterHandling" in fault) {
            if (user && token) this.#route(entry, token, user, req.headers["cal-api-version"] === VERSION && !this.#legacyAlways);
            return; // written, never answered
          }
          if ("badJson" in fault) return send(fault.status ?? 200, '{"status":"success","data":[{"id":1,"title":', extra);
          if ("body" in fault) return send(fault.status ?? 200, fault.body, extra);
          if (fault.status === 429) {
            const rl: Record<string, string> =
              fault.resetSeconds === null
                ? {}
                : {
                    "x-ratelimit-limit-default": limited.headers["x-ratelimit-limit-default"] ?? "120",
                    "x-ratelimit-remaining-default": "0",
                    "x-ratelimit-reset-default": String(fault.resetSeconds ?? 1),
                  };
            const msg = "Too many requests. Please try again later.";
            return send(
              429,
              { status: "error", timestamp: new Date().toISOString(), path: url.pathname, error: { code: "ThrottlerException", message: msg, details: msg } },
              { ...rl, ...fault.headers },
            );
          }
          return error(fault.status, "InternalServerErrorException", "Internal server error", extra);
        }
      }

      if (!user || !token) return error(401, "UnauthorizedException", "Invalid API Key", limited.headers);
      const result = this.#route(entry, token, user, req.headers["cal-api-version"] === VERSION && !this.#legacyAlways);
      if ("error" in result) return error(result.status, result.error, result.message, limited.headers);
      const pagination = "pagination" in result && result.pagination !== undefined ? { pagination: result.pagination } : {};
      return send(result.status, { status: "success", data: result.data, ...pagination }, limited.headers);
    } catch (err) {
      return error(500, "InternalServerErrorException", err instanceof Error ? err.message : "fake failure");
    }
  }

  #route(
    req: FakeRequest,
    apiKey: string,
    user: FakeUser,
    current: boolean,
  ): { status: number; data: unknown; pagination?: unknown } | { status: number; error: string; message: string } {
    const { method, path } = req;
    if (path === "/v2/me" && method === "GET") {
      return {
        status: 200,
        data: {
          ...user,
          avatarUrl: null,
          bio: null,
          timeFormat: 24,
          defaultScheduleId: null,
          weekStart: "Monday",
          timeZone: "Europe/London",
          locale: "en",
          organizationId: null,
          organization: { isPlatform: false },
        },
      };
    }

    if (path === "/v2/bookings" && method === "GET") return this.#listBookings(req, apiKey);
    const memberships = MEMBERSHIPS_ROUTE.exec(path);
    if (memberships) {
      const teamId = Number(memberships[1]);
      if (!/^\d+$/.test(memberships[1]!)) return badRequest("Validation failed (numeric string is expected)");
      if (method !== "GET") return { status: 404, error: "NotFoundException", message: `Cannot ${method} ${path}` };
      const members = this.#teams.get(teamId);
      if (!members) return { status: 404, error: "NotFoundException", message: `Team with id=${teamId} not found` };
      if (!this.#isTeamAdmin(teamId, apiKey)) return { status: 403, error: "ForbiddenException", message: "Insufficient team role" };
      const take = Math.min(250, Math.max(1, Number(req.query["take"] ?? 250) || 250));
      const skip = Math.max(0, Number(req.query["skip"] ?? 0) || 0);
      const all = [...members.entries()].map(([key, m]) => {
        const u = this.user(key);
        return { id: m.id, userId: u.id, teamId, accepted: m.accepted, role: m.role, disableImpersonation: false, user: { ...u, avatarUrl: null } };
      });
      return { status: 200, data: all.slice(skip, skip + take) };
    }

    let owner: Owner;
    let rawId: string | undefined;
    const team = TEAM_ROUTE.exec(path);
    const personal = team ? null : PERSONAL_ROUTE.exec(path);
    if (team) {
      const teamId = Number(team[1]);
      if (!Number.isInteger(teamId)) return badRequest("Validation failed (numeric string is expected)");
      const unguardedRead = this.#teamEventTypesUnguarded && method === "GET";
      if (!unguardedRead && !this.#isTeamAdmin(teamId, apiKey)) {
        return { status: 403, error: "ForbiddenException", message: "Insufficient team role" };
      }
      owner = { teamId };
      rawId = team[2];
    } else if (personal) {
      owner = apiKey;
      rawId = personal[1];
    } else {
      return { status: 404, error: "NotFoundException", message: `Cannot ${method} ${path}` };
    }

    const store = this.#store(owner);
    const isTeam = typeof owner !== "string";
    const out = (et: FakeEventType, list = false) => shape(et, current, list);

    if (rawId === undefined) {
      if (method === "GET") return { status: 200, data: [...store.values()].map((et) => out(et, true)) };
      if (method === "POST") {
        const body = req.body;
        const problem = validateInput(body, true) ?? (isTeam && !(body as Record<string, unknown>)["schedulingType"] ? "schedulingType is required" : undefined);
        if (problem) return badRequest(problem);
        const input = normaliseInput(body as Record<string, unknown>, current);
        if ([...store.values()].some((et) => et.slug === input["slug"])) return badRequest("User already has an event type with this slug.");
        const et = this.addEventTypes(owner, [input])[0]!;
        return { status: 201, data: out(et) };
      }
      return { status: 404, error: "NotFoundException", message: `Cannot ${method} ${path}` };
    }

    const id = Number(rawId);
    if (!/^\d+$/.test(rawId)) return badRequest("Validation failed (numeric string is expected)");
    const et = store.get(id);
    if (!et) return { status: 404, error: "NotFoundException", message: `Event type with id=${id} not found` };
    if (method === "GET") return { status: 200, data: out(et) };
    if (method === "PATCH") {
      const problem = validateInput(req.body, false);
      if (problem) return badRequest(problem);
      const patch = normaliseInput(req.body as Record<string, unknown>, current);
      if (patch["slug"] !== undefined && [...store.values()].some((o) => o.id !== id && o.slug === patch["slug"])) {
        return badRequest("User already has an event type with this slug.");
      }
      return { status: 200, data: out(this.updateEventType(owner, id, patch)) };
    }
    if (method === "DELETE") {
      store.delete(id);
      const data = isTeam ? { id, title: et.title } : { id, lengthInMinutes: et.lengthInMinutes, slug: et.slug, title: et.title };
      return { status: 200, data };
    }
    return { status: 404, error: "NotFoundException", message: `Cannot ${method} ${path}` };
  }

  #listBookings(req: FakeRequest, apiKey: string): { status: number; data: unknown; pagination?: unknown } | { status: number; error: string; message: string } {
    const q = req.query;
    let owner: Owner = apiKey;
    if (q["teamId"] !== undefined) {
      const teamId = Number(q["teamId"]);
      if (!this.#isTeamAdmin(teamId, apiKey)) return { status: 403, error: "ForbiddenException", message: "Insufficient team role" };
      owner = { teamId };
    }
    const all = [...this.#bookingStore(owner).values()];
    if (req.headers["cal-api-version"] !== BOOKINGS_VERSION) {
      // The pre-2024-08-13 controller: another envelope entirely.
      return { status: 200, data: { bookings: all.map((b) => ({ ...b, startTime: b.start, endTime: b.end })), recurringInfo: [], nextCursor: null } };
    }
    const take = q["take"] === undefined ? 100 : Number(q["take"]);
    const skip = q["skip"] === undefined ? 0 : Number(q["skip"]);
    if (!Number.isInteger(take) || take < 1 || take > 250) return badRequest("take must not be greater than 250");
    if (!Number.isInteger(skip) || skip < 0) return badRequest("skip must not be less than 0");
    const after = q["afterUpdatedAt"] === undefined ? undefined : Date.parse(q["afterUpdatedAt"]);
    const before = q["beforeUpdatedAt"] === undefined ? undefined : Date.parse(q["beforeUpdatedAt"]);
    if (Number.isNaN(after) || Number.isNaN(before)) return badRequest("afterUpdatedAt/beforeUpdatedAt must be ISO 8601 dates");
    const filtered = all.filter((b) => {
      const u = Date.parse(b.updatedAt);
      return (after === undefined || u >= after) && (before === undefined || u <= before);
    });
    // No tie-breaker: equal updatedAt come back in any order (shuffled here on every request).
    const direction = q["sortUpdatedAt"] === "desc" ? -1 : 1;
    const keyed = filtered.map((b) => ({ b, u: Date.parse(b.updatedAt), r: Math.random() }));
    if (q["sortUpdatedAt"] !== undefined) keyed.sort((x, y) => (x.u - y.u) * direction || x.r - y.r);
    const page = keyed.slice(skip, skip + take).map((k) => k.b);
    const totalItems = all.length; // ignores the updated filters, as Cal.com's does
    return {
      status: 200,
      data: page,
      pagination: {
        totalItems,
        remainingItems: Math.max(0, filtered.length - skip - page.length),
        returnedItems: page.length,
        itemsPerPage: take,
        currentPage: Math.floor(skip / take) + 1,
        totalPages: Math.ceil(totalItems / take),
        hasNextPage: skip + take < filtered.length,
        hasPreviousPage: skip > 0,
      },
    };
  }

  #bookingStore(owner: Owner): Map<string, FakeBooking> {
    const key = typeof owner === "string" ? `user:${this.user(owner).id}` : `team:${owner.teamId}`;
    let store = this.#bookings.get(key);
    if (!store) this.#bookings.set(key, (store = new Map()));
    return store;
  }

  #rateLimit(tracker: string): { blocked: boolean; headers: Record<string, string> } {
    if (!this.#limit) return { blocked: false, headers: {} };
    const { limit, windowMs, blockMs } = this.#limit;
    const now = performance.now();
    let b = this.#buckets.get(tracker);
    if (!b || (now >= b.windowEnd && now >= b.blockedUntil)) {
      b = { windowEnd: now + windowMs, count: 0, blockedUntil: 0 };
      this.#buckets.set(tracker, b);
    }
    let blocked = now < b.blockedUntil;
    if (!blocked) {
      b.count++;
      if (b.count > limit) {
        blocked = true;
        b.blockedUntil = now + blockMs;
      }
    }
    const resetMs = blocked ? b.blockedUntil - now : b.windowEnd - now;
    return {
      blocked,
      headers: {
        "x-ratelimit-limit-default": String(limit),
        "x-ratelimit-remaining-default": String(blocked ? 0 : Math.max(0, limit - b.count)),
        "x-ratelimit-reset-default": String(Math.max(1, Math.ceil(resetMs / 1000))),
      },
    };
  }

  #takeFault(req: FakeRequest): StoredFault | undefined {
    const i = this.#faults.findIndex(
      (f) => (f.path === undefined || matches(f.path, req.path)) && (f.method === undefined || f.method.toUpperCase() === req.method),
    );
    if (i < 0) return undefined;
    const fault = this.#faults[i]!;
    if (fault.skip && fault.skip > 0) {
      fault.skip--;
      return undefined;
    }
    if (--fault.remaining <= 0) this.#faults.splice(i, 1);
    return fault;
  }

  #store(owner: Owner): Map<number, FakeEventType> {
    const key = typeof owner === "string" ? `user:${this.user(owner).id}` : `team:${owner.teamId}`;
    let store = this.#stores.get(key);
    if (!store) this.#stores.set(key, (store = new Map()));
    return store;
  }

  #build(owner: Owner, seed: EventTypeSeed): FakeEventType {
    const id = seed.id ?? this.#nextId++;
    if (id >= this.#nextId) this.#nextId = id + 1;
    const slug = seed.slug ?? `event-${id}`;
    const user = typeof owner === "string" ? this.user(owner) : undefined;
    const teamId = typeof owner === "string" ? undefined : owner.teamId;
    const base: FakeEventType = {
      id,
      ownerId: user?.id ?? null,
      lengthInMinutes: 30,
      title: `Event ${id}`,
      slug,
      description: "",
      locations: [{ type: "integration", integration: "cal-video" }],
      bookingFields: defaultBookingFields(),
      recurrence: null,
      disableGuests: false,
      slotInterval: null,
      minimumBookingNotice: 120,
      beforeEventBuffer: 0,
      afterEventBuffer: 0,
      metadata: {},
      price: 0,
      currency: "usd",
      lockTimeZoneToggleOnBookingPage: false,
      forwardParamsSuccessRedirect: true,
      successRedirectUrl: null,
      isInstantEvent: false,
      users: user
        ? [
            {
              id: user.id,
              name: user.name,
              username: user.username,
              avatarUrl: null,
              brandColor: "#292929",
              darkBrandColor: "#fafafa",
              weekStart: "Monday",
              metadata: {},
            },
          ]
        : [],
      scheduleId: null,
      onlyShowFirstAvailableSlot: false,
      offsetStart: 0,
      bookingWindow: { disabled: true },
      bookerLayouts: { defaultLayout: "month", enabledLayouts: ["month", "weekly", "column"] },
      confirmationPolicy: { disabled: true },
      requiresBookerEmailVerification: false,
      hideCalendarNotes: false,
      seats: { disabled: true },
      useDestinationCalendarEmail: false,
      hideCalendarEventDetails: false,
      hideOrganizerEmail: false,
      hidden: false,
      bookingRequiresAuthentication: false,
      bookerActiveBookingsLimit: { disabled: true },
      bookingUrl: user ? `https://cal.com/${user.username}/${slug}` : `https://cal.com/team/team-${teamId}/${slug}`,
      disableCancelling: { disabled: false },
      disableRescheduling: { disabled: false },
      interfaceLanguage: "",
      allowReschedulingPastBookings: false,
      allowReschedulingCancelledBookings: false,
      showOptimizedSlots: false,
      ...(teamId !== undefined
        ? {
            teamId,
            parentEventTypeId: null,
            hosts: [],
            assignAllTeamMembers: false,
            schedulingType: "collective",
            team: { id: teamId, slug: `team-${teamId}`, name: `Team ${teamId}`, logoUrl: null, bannerUrl: null, hideBranding: false },
          }
        : {}),
    };
    return Object.assign(base, seed, { id, slug });
  }
}

/** The default booking fields a new Cal.com event type has (`title` and phone are hidden). */
function defaultBookingFields(): Record<string, unknown>[] {
  const field = (type: string, slug: string, required: boolean, hidden: boolean) => ({
    isDefault: true,
    type,
    slug,
    required,
    disableOnPrefill: false,
    hidden,
  });
  return [
    field("name", "name", true, false),
    field("email", "email", true, false),
    field("phone", "attendeePhoneNumber", false, true),
    field("text", "title", true, true),
    field("textarea", "notes", false, false),
    field("multiemail", "guests", false, false),
    field("textarea", "rescheduleReason", false, false),
  ];
}

/** Output form: current or legacy shape; lists drop hidden booking fields. */
function shape(et: FakeEventType, current: boolean, list: boolean): Record<string, unknown> {
  let out: Record<string, unknown> = et;
  if (list && Array.isArray(et["bookingFields"])) {
    out = { ...out, bookingFields: (et["bookingFields"] as { hidden?: unknown }[]).filter((f) => f.hidden !== true) };
  }
  if (!current) {
    const { lengthInMinutes, ...rest } = out;
    out = { ...rest, length: lengthInMinutes };
  }
  return out;
}

function validateInput(body: unknown, create: boolean): string | undefined {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "body must be a JSON object";
  const b = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of ["title", "slug"]) {
    if ((create || key in b) && (typeof b[key] !== "string" || b[key] === "")) problems.push(`${key} must be a non-empty string`);
  }
  if ((create || "lengthInMinutes" in b) && !(Number.isInteger(b["lengthInMinutes"]) && (b["lengthInMinutes"] as number) > 0)) {
    problems.push("lengthInMinutes must be a positive integer");
  }
  return problems.length > 0 ? problems.join(", ") : undefined;
}

/** Without the version header Cal.com speaks the old input too: `length` instead of `lengthInMinutes`. */
function normaliseInput(body: Record<string, unknown>, current: boolean): EventTypeSeed {
  const { id: _ignored, length, ...rest } = body;
  return !current && length !== undefined && rest["lengthInMinutes"] === undefined ? { ...rest, lengthInMinutes: length as number } : rest;
}

function badRequest(message: string) {
  return { status: 400, error: "BadRequestException", message };
}

function matches(pattern: string | RegExp, path: string): boolean {
  return typeof pattern === "string" ? pattern === path : pattern.test(path);
}

function describeFault(f: Fault): string {
  if ("hang" in f) return "hang";
  if ("stallMidBody" in f) return "stallMidBody";
  if ("hangAfterHandling" in f) return "hangAfterHandling";
  if ("badJson" in f) return "badJson";
  if ("body" in f) return "body";
  return `status:${f.status}`;
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
