import { setTimeout as sleep } from "node:timers/promises";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CalcomClient, type CalcomClientOptions, type RateLimitInfo } from "../src/calcom/client.ts";
import {
  BadResponse,
  CalcomError,
  InvalidCredentials,
  NotFound,
  RateLimited,
  RequestRejected,
  Unavailable,
} from "../src/calcom/errors.ts";
import { FakeCalcom } from "./support/fake-calcom.ts";
import { spanExporter } from "./support/otel-setup.ts";

const KEY = "cal_test_0123456789abcdef0123456789abcdef";
const OTHER_KEY = "cal_test_fedcba9876543210fedcba9876543210";
const TEAM = 77;

let fake: FakeCalcom;
let url: string;

beforeEach(async () => {
  fake = new FakeCalcom({ apiKeys: [KEY, OTHER_KEY], teams: { [TEAM]: [KEY] } });
  ({ url } = await fake.start());
  spanExporter().reset();
});

afterEach(async () => {
  await fake.close();
});

function client(options: Partial<CalcomClientOptions> = {}): CalcomClient {
  return new CalcomClient({ baseUrl: url, apiKey: KEY, baseDelayMs: 10, maxDelayMs: 40, ...options });
}

async function failure(promise: Promise<unknown>): Promise<CalcomError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CalcomError);
  return err as CalcomError;
}

describe("reading event types", () => {
  it("lists the key owner's event types with the bearer key, version header and Accept", async () => {
    const mine = fake.addEventTypes(KEY, 3);
    fake.addEventTypes(OTHER_KEY, 2);

    const listed = await client().listEventTypes();

    expect(listed.map((et) => et.id)).toEqual(mine.map((et) => et.id));
    expect(listed[0]).toMatchObject({ title: mine[0]!.title, slug: mine[0]!.slug, lengthInMinutes: 30, hidden: false, price: 0 });
    const [req] = fake.requests;
    expect(fake.requests).toHaveLength(1);
    expect(req).toMatchObject({ method: "GET", path: "/v2/event-types", authScheme: "Bearer", userId: fake.user(KEY).id });
    expect(req!.headers["cal-api-version"]).toBe("2024-06-14");
    expect(req!.headers["accept"]).toBe("application/json");
  });

  it("lists a team's event types under /v2/teams/{teamId}", async () => {
    fake.addEventTypes(KEY, 1);
    const team = fake.addEventTypes({ teamId: TEAM }, 2);

    const listed = await client({ teamId: TEAM }).listEventTypes();

    expect(listed.map((et) => [et.id, et.teamId, et.schedulingType])).toEqual(team.map((et) => [et.id, TEAM, "collective"]));
    expect(fake.requests[0]!.path).toBe(`/v2/teams/${TEAM}/event-types`);
  });

  it("lists 10,000 event types in one response (Cal.com does not paginate)", async () => {
    fake.addEventTypes(KEY, 10_000);
    const listed = await client().listEventTypes();
    expect(listed).toHaveLength(10_000);
    expect(new Set(listed.map((et) => et.id)).size).toBe(10_000);
  });

  it("keeps fields it does not validate, nested ones included", async () => {
    const [et] = fake.addEventTypes(KEY, [{ title: "Haircut", futureField: { nested: [1, 2] }, price: 2500, currency: "eur" }]);

    const got = await client().getEventType(et!.id);

    expect(got).toMatchObject({ title: "Haircut", price: 2500, currency: "eur", futureField: { nested: [1, 2] } });
    expect(got["bookingUrl"]).toBe(et!["bookingUrl"]);
    expect(got["users"]).toEqual(et!["users"]);
  });

  it("gets hidden booking fields by id but not in the list, like Cal.com", async () => {
    const [et] = fake.addEventTypes(KEY, 1);
    const c = client();
    const [listed] = await c.listEventTypes();
    const single = await c.getEventType(et!.id);
    expect(listed!.bookingFields!.map((f) => f.slug)).not.toContain("title");
    expect(single.bookingFields!.map((f) => f.slug)).toContain("title");
  });

  it("returns the key's user from verifyCredentials (GET /v2/me)", async () => {
    const me = await client().verifyCredentials();
    expect(me).toMatchObject({ id: fake.user(KEY).id, username: fake.user(KEY).username });
    expect(fake.requests[0]!.path).toBe("/v2/me");
  });
});

describe("the pre-2024-06-14 shape", () => {
  it("is what the fake serves without the cal-api-version header", async () => {
    fake.addEventTypes(KEY, 1);
    const res = await fetch(`${url}/v2/event-types`, { headers: { Authorization: `Bearer ${KEY}` } });
    const body = (await res.json()) as { status: string; data: Record<string, unknown>[] };
    expect(body.status).toBe("success");
    expect(body.data[0]).toHaveProperty("length", 30);
    expect(body.data[0]).not.toHaveProperty("lengthInMinutes");
  });

  it("is rejected as BadResponse, without retrying, when Cal.com ignores the header", async () => {
    fake.addEventTypes(KEY, 1);
    fake.serveLegacyShape(true);

    const err = await failure(client().listEventTypes());

    expect(err).toBeInstanceOf(BadResponse);
    expect(err.message).toMatch(/pre-2024-06-14/);
    expect(fake.requests).toHaveLength(1);
  });
});

describe("errors that are not retried", () => {
  it("401 → InvalidCredentials after one request", async () => {
    const err = await failure(client({ apiKey: "cal_live_not_a_real_key" }).verifyCredentials());
    expect(err).toBeInstanceOf(InvalidCredentials);
    expect(err.status).toBe(401);
    expect(fake.requests).toHaveLength(1);
  });

  it("403 on a team the key does not administer → InvalidCredentials", async () => {
    const err = await failure(client({ apiKey: OTHER_KEY, teamId: TEAM }).listEventTypes());
    expect(err).toBeInstanceOf(InvalidCredentials);
    expect(err.status).toBe(403);
  });

  it("404 → NotFound", async () => {
    const err = await failure(client().getEventType(424242));
    expect(err).toBeInstanceOf(NotFound);
    expect(err.status).toBe(404);
    expect(fake.requests).toHaveLength(1);
  });

  it("malformed JSON → BadResponse after one request, without the body in the message", async () => {
    fake.fault({ badJson: true });
    const err = await failure(client().listEventTypes());
    expect(err).toBeInstanceOf(BadResponse);
    expect(err.message).not.toContain('"title"');
    expect(fake.requests).toHaveLength(1);
  });

  it("a body that does not match the schema → BadResponse naming the field, not its value", async () => {
    fake.fault({
      body: { status: "success", data: { id: "not-a-number", title: "Alice Example's massage", slug: "x", lengthInMinutes: 30 } },
    });
    const err = await failure(client().getEventType(7));
    expect(err).toBeInstanceOf(BadResponse);
    expect(err.message).toContain("data.id");
    expect(err.message).not.toContain("Alice");
    expect(err.message).not.toContain("not-a-number");
    expect(fake.requests).toHaveLength(1);
  });

  it("a listing item that does not match the schema is set aside with its reason (field, not value); the others come back", async () => {
    fake.fault({
      body: {
        status: "success",
        data: [
          { id: "not-a-number", title: "Alice Example's massage", slug: "x", lengthInMinutes: 30 },
          { id: 12, title: "Fine", slug: "fine", lengthInMinutes: 30 },
        ],
      },
    });
    const listing = await client().listEventTypesChecked();
    expect(listing.eventTypes.map((e) => e.id)).toEqual([12]);
    expect(listing.invalid).toHaveLength(1);
    expect(listing.invalid[0]!.reason).toContain("id");
    expect(listing.invalid[0]!.reason).not.toContain("not-a-number");
    expect(fake.requests).toHaveLength(1);
  });
});

describe("retries", () => {
  it("500 twice then 200 succeeds on the third request", async () => {
    fake.addEventTypes(KEY, 2);
    fake.fault({ status: 500, times: 2 });
    const statuses: (number | "error")[] = [];

    const listed = await client({ onResponse: (s) => statuses.push(s) }).listEventTypes();

    expect(listed).toHaveLength(2);
    expect(fake.requests).toHaveLength(3);
    expect(statuses).toEqual([500, 500, 200]);
  });

  it("5xx on every attempt → Unavailable with attempts = maxAttempts", async () => {
    fake.fault({ status: 503, times: Infinity });
    const err = await failure(client({ maxAttempts: 4 }).listEventTypes());
    expect(err).toBeInstanceOf(Unavailable);
    expect((err as Unavailable).attempts).toBe(4);
    expect(err.status).toBe(503);
    expect(fake.requests).toHaveLength(4);
  });

  it("a hanging request times out and is retried", async () => {
    fake.addEventTypes(KEY, 1);
    fake.fault({ hang: true });
    const statuses: (number | "error")[] = [];

    const started = performance.now();
    const listed = await client({ timeoutMs: 200, onResponse: (s) => statuses.push(s) }).listEventTypes();
    const elapsed = performance.now() - started;

    expect(listed).toHaveLength(1);
    expect(statuses).toEqual(["error", 200]);
    expect(fake.requests.map((r) => r.status)).toEqual([undefined, 200]);
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(10_000); // the per-attempt timeout, not the 10 s default
  });

  it("hanging on every attempt → Unavailable saying it timed out", async () => {
    fake.fault({ hang: true, times: Infinity });
    const err = await failure(client({ timeoutMs: 200, maxAttempts: 2 }).listEventTypes());
    expect(err).toBeInstanceOf(Unavailable);
    expect((err as Unavailable).attempts).toBe(2);
    expect(err.message).toMatch(/timed out after 200 ms/);
    expect(fake.requests).toHaveLength(2);
  });

  it("a refused connection → Unavailable saying network error, after maxAttempts", async () => {
    await fake.close();
    const statuses: (number | "error")[] = [];
    const err = await failure(client({ maxAttempts: 3, onResponse: (s) => statuses.push(s) }).listEventTypes());
    expect(err).toBeInstanceOf(Unavailable);
    expect(err.message).toMatch(/network error on all 3 attempt/);
    expect(statuses).toEqual(["error", "error", "error"]);
  });

  it("accepts a base URL that already ends in /v2/", async () => {
    fake.addEventTypes(KEY, 1);
    expect(await client({ baseUrl: `${url}/v2/` }).listEventTypes()).toHaveLength(1);
    expect(fake.requests[0]!.path).toBe("/v2/event-types");
  });

  it("awaits acquire() before every attempt", async () => {
    fake.fault({ status: 502, times: 2 });
    const released: number[] = [];
    const acquire = async () => {
      await sleep(15); // a rate budget that makes the caller wait
      released.push(performance.now());
    };

    await client({ acquire }).listEventTypes();

    expect(released).toHaveLength(3);
    expect(fake.requests).toHaveLength(3);
    fake.requests.forEach((req, i) => expect(req.time).toBeGreaterThanOrEqual(released[i]!));
  });
});

describe("rate limits", () => {
  it("429 with X-RateLimit-Reset-Default: 1 waits at least 1 s before retrying", async () => {
    fake.addEventTypes(KEY, 1);
    fake.fault({ status: 429, resetSeconds: 1 });
    const waits: number[] = [];

    await client({ onRateLimitWait: (ms) => waits.push(ms) }).listEventTypes();

    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.time - fake.requests[0]!.time).toBeGreaterThanOrEqual(1000);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(1000);
    const span = spanExporter()
      .getFinishedSpans()
      .find((s) => s.name === "calcom GET /v2/event-types");
    expect(span?.events.find((e) => e.name === "calcom.rate_limit_wait")?.attributes?.["calsync.calcom.wait_ms"]).toBe(waits[0]);
  });

  it("honours a Retry-After HTTP-date", async () => {
    fake.addEventTypes(KEY, 1);
    const target = Math.ceil((Date.now() + 300) / 1000) * 1000; // HTTP-dates have whole seconds
    fake.fault({ status: 429, resetSeconds: null, headers: { "Retry-After": new Date(target).toUTCString() } });

    await client().listEventTypes();

    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.wallTime).toBeGreaterThanOrEqual(target - 5);
  });

  it("takes the longer of Retry-After seconds and X-RateLimit-Reset-Default", async () => {
    fake.addEventTypes(KEY, 1);
    fake.fault({ status: 429, resetSeconds: 0, headers: { "Retry-After": "1" } });
    const waits: number[] = [];

    await client({ onRateLimitWait: (ms) => waits.push(ms) }).listEventTypes();

    expect(waits[0]).toBeGreaterThanOrEqual(1000);
    expect(fake.requests[1]!.time - fake.requests[0]!.time).toBeGreaterThanOrEqual(1000);
  });

  it("falls back to jittered backoff when a 429 gives no hint", async () => {
    fake.addEventTypes(KEY, 1);
    fake.fault({ status: 429, resetSeconds: null });
    const waits: number[] = [];

    await client({ baseDelayMs: 10, onRateLimitWait: (ms) => waits.push(ms) }).listEventTypes();

    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeLessThanOrEqual(10);
    expect(fake.requests).toHaveLength(2);
  });

  it("429 on every attempt → RateLimited", async () => {
    fake.fault({ status: 429, resetSeconds: 0, times: Infinity });
    const err = await failure(client({ maxAttempts: 3 }).listEventTypes());
    expect(err).toBeInstanceOf(RateLimited);
    expect(err.status).toBe(429);
    expect(fake.requests).toHaveLength(3);
  });

  it("a reset longer than maxRateLimitWaitMs fails at once with retryAfterMs, from the real-like limiter", async () => {
    await fake.close();
    fake = new FakeCalcom({ apiKeys: [KEY], rateLimit: { limit: 3, windowMs: 60_000 } });
    ({ url } = await fake.start());
    const seen: (RateLimitInfo | undefined)[] = [];
    const c = client({ maxRateLimitWaitMs: 5_000, onResponse: (_s, rl) => seen.push(rl) });

    for (let i = 0; i < 3; i++) await c.listEventTypes();
    const err = await failure(c.listEventTypes());

    expect(seen.map((rl) => rl?.remaining)).toEqual([2, 1, 0, 0]);
    expect(seen[0]).toMatchObject({ limit: 3 });
    expect(err).toBeInstanceOf(RateLimited);
    expect((err as RateLimited).retryAfterMs).toBeGreaterThan(50_000);
    expect(fake.requests).toHaveLength(4);
    const res = await fetch(`${url}/v2/me`, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBeNull();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ThrottlerException");
  });
});

describe("writing event types", () => {
  it("creates, updates and deletes an event type", async () => {
    const c = client();
    const created = await c.createEventType({
      title: "Consultation",
      slug: "consultation",
      lengthInMinutes: 45,
      description: "First visit",
      locations: [{ type: "address", address: "1 Main St", public: true }],
    });
    expect(created).toMatchObject({ title: "Consultation", slug: "consultation", lengthInMinutes: 45, ownerId: fake.user(KEY).id });
    expect(fake.eventTypes(KEY).map((et) => et.id)).toEqual([created.id]);
    expect(fake.requests[0]).toMatchObject({ method: "POST", body: { title: "Consultation", lengthInMinutes: 45 } });
    expect(fake.requests[0]!.headers["content-type"]).toBe("application/json");

    const updated = await c.updateEventType(created.id, { lengthInMinutes: 60, hidden: true });
    expect(updated).toMatchObject({ id: created.id, lengthInMinutes: 60, hidden: true, title: "Consultation" });
    expect((await c.getEventType(created.id)).lengthInMinutes).toBe(60);

    await c.deleteEventType(created.id);
    expect(fake.eventTypes(KEY)).toEqual([]);
    expect(await failure(c.getEventType(created.id))).toBeInstanceOf(NotFound);
  });

  it("creates, updates and deletes team event types (scheduling type defaults to collective)", async () => {
    const c = client({ teamId: TEAM });
    const created = await c.createEventType({ title: "Team call", slug: "team-call", lengthInMinutes: 15 });
    expect(created).toMatchObject({ teamId: TEAM, schedulingType: "collective" });
    const rr = await c.createEventType({ title: "Round", slug: "round", lengthInMinutes: 15, schedulingType: "roundRobin" });
    expect(rr.schedulingType).toBe("roundRobin");

    expect(await c.updateEventType(created.id, { title: "Team sync" })).toMatchObject({ id: created.id, title: "Team sync" });
    await c.deleteEventType(rr.id);

    expect(fake.eventTypes({ teamId: TEAM }).map((et) => [et.id, et.title])).toEqual([[created.id, "Team sync"]]);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`).slice(2)).toEqual([
      `PATCH /v2/teams/${TEAM}/event-types/${created.id}`,
      `DELETE /v2/teams/${TEAM}/event-types/${rr.id}`,
    ]);
  });

  it("refuses a non-integer id without calling Cal.com", async () => {
    await expect(client().getEventType(1.5)).rejects.toThrow(TypeError);
    expect(fake.requests).toHaveLength(0);
  });

  it("a 400 → RequestRejected with Cal.com's code, not retried", async () => {
    const c = client();
    await c.createEventType({ title: "A", slug: "same", lengthInMinutes: 30 });
    const err = await failure(c.createEventType({ title: "B", slug: "same", lengthInMinutes: 30 }));
    expect(err).toBeInstanceOf(RequestRejected);
    expect(err.status).toBe(400);
    expect((err as RequestRejected).calcomCode).toBe("BadRequestException");
    expect(fake.requests).toHaveLength(2);
  });
});

describe("secrets", () => {
  it("never puts the API key into an error", async () => {
    const errors: CalcomError[] = [];
    errors.push(await failure(client({ apiKey: `${KEY}x` }).listEventTypes()));
    errors.push(await failure(client().getEventType(1)));
    fake.fault({ status: 500, times: 2 });
    errors.push(await failure(client({ maxAttempts: 2 }).listEventTypes()));
    fake.fault({ hang: true });
    errors.push(await failure(client({ maxAttempts: 1, timeoutMs: 100 }).listEventTypes()));
    fake.fault({ badJson: true });
    errors.push(await failure(client().listEventTypes()));
    fake.fault({ status: 429, resetSeconds: 0 });
    errors.push(await failure(client({ maxAttempts: 1 }).listEventTypes()));
    fake.fault({ status: 400, body: { status: "error", error: { code: "BadRequestException", message: `bad key ${KEY} given` } } });
    errors.push(await failure(client().listEventTypes()));

    expect(errors.map((e) => e.constructor)).toEqual([
      InvalidCredentials,
      NotFound,
      Unavailable,
      Unavailable,
      BadResponse,
      RateLimited,
      RequestRejected,
    ]);
    expect(errors.at(-1)!.message).toContain("bad key [redacted] given");
    for (const err of errors) {
      expect(String(err)).not.toContain(KEY.slice(8));
      expect(err.message).not.toContain(KEY.slice(8));
      expect(String(err.cause ?? "")).not.toContain(KEY.slice(8));
    }
    for (const span of spanExporter().getFinishedSpans()) {
      expect(JSON.stringify({ a: span.attributes, e: span.events })).not.toContain(KEY.slice(8));
    }
  });
});

describe("tracing", () => {
  it("makes one CLIENT span per call with method, path, status and attempts", async () => {
    const [et] = fake.addEventTypes(KEY, 1);
    fake.fault({ status: 500 });

    await client().getEventType(et!.id);

    const span = spanExporter()
      .getFinishedSpans()
      .find((s) => s.name === "calcom GET /v2/event-types/{id}");
    expect(span?.kind).toBe(SpanKind.CLIENT);
    expect(span?.attributes).toMatchObject({
      "http.request.method": "GET",
      "url.path": `/v2/event-types/${et!.id}`,
      "http.response.status_code": 200,
      "calsync.calcom.attempts": 2,
    });
  });

  it("marks a failed call's span as an error with the error code", async () => {
    await failure(client().getEventType(5));
    const span = spanExporter()
      .getFinishedSpans()
      .find((s) => s.name === "calcom GET /v2/event-types/{id}");
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes).toMatchObject({ "http.response.status_code": 404, "error.type": "CALCOM_NOT_FOUND" });
  });
});

describe("the fake's observation helpers", () => {
  it("reports concurrency and requests per window", async () => {
    fake.setLatency(50);
    const c = client();
    await Promise.all(Array.from({ length: 5 }, () => c.verifyCredentials()));
    expect(fake.maxConcurrent).toBe(5);
    expect(fake.requestsPerWindow(10_000)).toBe(5);
    expect(fake.requestsTo("/v2/me", "GET")).toHaveLength(5);
  });
});
