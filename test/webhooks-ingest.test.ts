/**
 * Webhook ingestion through HTTP: every row of CONTRACT §3 on all three paths, signature edge
 * cases, the size cap, concurrent duplicates, failures of add_job and of the database.
 */
import { forgetBlockedAddresses } from "../src/http/webhooks/calcom.ts";
import { createHash, randomUUID } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { signBody } from "../src/calcom/signature.ts";
import { setEnv } from "../src/config.ts";
import { db, pool } from "../src/db/client.ts";
import { invalidateWebhookSecrets, SECRET_CACHE_TTL_MS, SECRET_REFRESH_AHEAD_MS } from "../src/domain/webhook-secrets.ts";
import { connectCompany, createCompany, createService, createWebhookSecret } from "./factories.ts";
import {
  bookingCreated,
  meetingEndedFlat,
  ping,
  serialize,
  unknownTrigger,
  type Body,
} from "./fixtures/webhooks.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { spanExporter } from "./support/otel-setup.ts";
import {
  adminQuery,
  companyGid,
  deliver,
  eventGid,
  eventIdOf,
  jobsForEvent,
  scopedPath,
  type PostOptions,
} from "./support/webhooks.ts";

const MAX_BYTES = 2048;
const SHARED_SECRET = "shared-unscoped-secret-0123456789";

let t: TestApp;
let scoped: { companyId: string; secret: string };
let unscopedCompanyId: string;

const SCOPED_EVENT_TYPE = 5001;
const UNSCOPED_EVENT_TYPE = 7001;

beforeAll(async () => {
  t = await startTestApp({ WEBHOOK_MAX_BYTES: String(MAX_BYTES), CALCOM_WEBHOOK_SECRET: SHARED_SECRET });
  const a = await createCompany();
  scoped = { companyId: a.id, secret: await createWebhookSecret(a.id) };
  await createService(a.id, { calcomEventTypeId: SCOPED_EVENT_TYPE });
  const u = await createCompany();
  unscopedCompanyId = u.id;
  await connectCompany(u.id); // unscoped deliveries reach only a company with a proved connection
  await createService(u.id, { calcomEventTypeId: UNSCOPED_EVENT_TYPE });
});
afterAll(async () => t.close());

// Failed verifications are counted per source address, and every request here comes from
// 127.0.0.1: each test starts with fresh counters.
beforeEach(async () => {
  await pool().query("DELETE FROM rate_limits");
  forgetBlockedAddresses();
});

interface PathCase {
  name: string;
  path: () => string;
  secret: () => string;
  /** The company the event is stored under. */
  companyId: () => string;
  eventTypeId: number;
}

const PATHS: PathCase[] = [
  {
    name: "POST /webhooks/calcom/:companyId",
    path: () => scopedPath(scoped.companyId),
    secret: () => scoped.secret,
    companyId: () => scoped.companyId,
    eventTypeId: SCOPED_EVENT_TYPE,
  },
  {
    name: "POST /webhooks/calcom",
    path: () => "/webhooks/calcom",
    secret: () => SHARED_SECRET,
    companyId: () => unscopedCompanyId,
    eventTypeId: UNSCOPED_EVENT_TYPE,
  },
  {
    name: "POST /api/calcom/webhook",
    path: () => "/api/calcom/webhook",
    secret: () => SHARED_SECRET,
    companyId: () => unscopedCompanyId,
    eventTypeId: UNSCOPED_EVENT_TYPE,
  },
];

let n = 0;
/** A booking body no other test sends (distinct uid, so a distinct hash). */
function freshBooking(eventTypeId: number, extra: Record<string, unknown> = {}): Body {
  return bookingCreated({ uid: `bk_ingest_${++n}_${randomUUID().slice(0, 8)}`, eventTypeId, extra });
}

const sha256 = (raw: string | Buffer) => createHash("sha256").update(raw).digest("hex");

async function rowsWithHash(raw: string | Buffer) {
  return db().webhookEvent.findMany({ where: { bodySha256: sha256(raw) } });
}

/** A signed PING whose compact JSON is exactly `size` bytes. */
function pingOfSize(size: number): string {
  const base = ping({ createdAt: new Date(Date.UTC(2025, 0, 1, 0, 0, 0, ++n)).toISOString() });
  const payload = base["payload"] as Record<string, unknown>;
  payload["pad"] = "";
  const pad = size - serialize(base).length;
  if (pad < 0) throw new Error(`ping is already ${serialize(base).length} bytes`);
  payload["pad"] = "x".repeat(pad);
  const raw = serialize(base);
  expect(Buffer.byteLength(raw)).toBe(size);
  return raw;
}

/** Renames graphile_worker.add_job away (every call fails) until the returned restore() runs. */
async function breakAddJob(): Promise<() => Promise<void>> {
  const rename = (from: string, to: string) =>
    pool().query(`DO $$ DECLARE f regprocedure; BEGIN
      FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
               WHERE p.proname = '${from}' AND p.pronamespace = 'graphile_worker'::regnamespace LOOP
        EXECUTE format('ALTER FUNCTION %s RENAME TO ${to}', f);
      END LOOP; END $$`);
  await rename("add_job", "add_job_disabled_by_test");
  return async () => void (await rename("add_job_disabled_by_test", "add_job"));
}

/** Makes the app's database refuse every connection (and drops the open ones) until restore(). */
async function takeDatabaseDown(): Promise<() => Promise<void>> {
  const name = new URL(t.databaseUrl).pathname.slice(1);
  await adminQuery(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS false`);
  await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
  return () => adminQuery(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS true`);
}

describe.each(PATHS)("$name", (p) => {
  const send = (body: Body | string | Buffer, o: PostOptions = {}) => deliver(t, p.path(), body, { secret: p.secret(), ...o });

  it("202: commits the event and its job, then answers with the id", async () => {
    const body = freshBooking(p.eventTypeId);
    const raw = serialize(body);
    const res = await send(raw);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.any(String), duplicate: false });

    const row = await db().webhookEvent.findUniqueOrThrow({ where: { id: eventIdOf(res) } });
    expect(row).toMatchObject({
      companyId: p.companyId(),
      triggerEvent: "BOOKING_CREATED",
      status: "RECEIVED",
      duplicateCount: 0,
      attempts: 0,
      bodySha256: sha256(raw),
      payload: body,
      rawBody: null,
      contentType: "application/json",
      correlationId: res.headers["x-request-id"],
      traceId: res.headers["x-trace-id"],
    });
    expect(row.eventCreatedAt?.toISOString()).toBe(body["createdAt"]);
    expect((row.traceCarrier as Record<string, string>)["traceparent"]).toContain(res.headers["x-trace-id"]);

    const queued = await jobsForEvent(row.id);
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ task_identifier: "process_webhook_event", max_attempts: 8 });
  });

  it("202 duplicate: the same body again answers the first id, counts it, adds no job", async () => {
    const raw = serialize(freshBooking(p.eventTypeId));
    const first = await send(raw);
    const second = await send(raw);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual({ id: first.body.id, duplicate: true });
    const rows = await rowsWithHash(raw);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.duplicateCount).toBe(1);
    expect(await jobsForEvent(eventIdOf(first))).toHaveLength(1);
  });

  it("202 duplicate under 20 concurrent identical deliveries: one row, one job, duplicateCount 19", async () => {
    const raw = serialize(freshBooking(p.eventTypeId));
    const responses = await Promise.all(Array.from({ length: 20 }, () => send(raw)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(202));
    const ids = new Set(responses.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    expect(responses.filter((r) => r.body.duplicate === false)).toHaveLength(1);
    const rows = await rowsWithHash(raw);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.duplicateCount).toBe(19);
    expect(await jobsForEvent(rows[0]!.id)).toHaveLength(1);
  });

  it("401 for a missing, malformed, unset or wrong signature, with no hint which; nothing stored", async () => {
    const raw = serialize(freshBooking(p.eventTypeId));
    const good = signBody(p.secret(), raw);
    const flipped = (parseInt(good[0]!, 16) ^ 1).toString(16) + good.slice(1);
    const cases: Record<string, string | null> = {
      missing: null,
      empty: "",
      "63 chars": good.slice(0, 63),
      "65 chars": `${good}0`,
      "uppercase hex": good.toUpperCase(),
      "sha256= prefix": `sha256=${good}`,
      "one flipped bit": flipped,
      "no-secret-provided": "no-secret-provided",
      "another secret": signBody("some-other-secret-0123456789", raw),
      "HMAC of the re-serialised body": signBody(p.secret(), JSON.stringify(JSON.parse(raw), null, 2)),
    };
    for (const [name, signature] of Object.entries(cases)) {
      const res = await send(raw, { signature });
      expect({ name, status: res.status, body: res.body }).toEqual({ name, status: 401, body: { error: "invalid_signature" } });
    }
    expect(await rowsWithHash(raw)).toHaveLength(0);
    // The untouched signature still works: the body was never the problem.
    expect((await send(raw, { signature: good })).status).toBe(202);
  });

  it("413 for a body one byte over WEBHOOK_MAX_BYTES (before any verification); exactly at the limit is accepted", async () => {
    const atLimit = pingOfSize(MAX_BYTES);
    const overLimit = pingOfSize(MAX_BYTES + 1);

    const over = await send(overLimit);
    expect(over.status).toBe(413);
    expect(over.body).toEqual({ error: "payload_too_large" });
    const unsigned = await send(overLimit, { signature: null });
    expect(unsigned.status).toBe(413);
    expect(await rowsWithHash(overLimit)).toHaveLength(0);

    const at = await send(atLimit);
    expect(at.status).toBe(202);
    expect(await rowsWithHash(atLimit)).toHaveLength(1);
  });

  it("413 while reading a chunked body with no Content-Length", async () => {
    const raw = pingOfSize(MAX_BYTES + 1);
    // In pieces, so the limit is crossed while streaming.
    const res = await send(raw, { chunkSize: 512 });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: "payload_too_large" });
    expect(await rowsWithHash(raw)).toHaveLength(0);
    const fits = pingOfSize(MAX_BYTES);
    expect((await send(fits, { chunkSize: 512 })).status).toBe(202);
  });

  it("422 for a signed form-encoded (non-JSON) body: stored INVALID with the raw text, no job", async () => {
    const raw = `triggerEvent=BOOKING_CREATED&title=Intro+call&uid=bk_form_${++n}`;
    const res = await send(raw, { contentType: "application/x-www-form-urlencoded" });
    expect(res.status).toBe(422);
    expect(res.body.error).toBe("invalid_payload");
    expect(res.body.details).toEqual([{ path: "", message: expect.stringContaining("not JSON") }]);
    const [row] = await rowsWithHash(raw);
    expect(row).toMatchObject({
      status: "INVALID",
      payload: null,
      rawBody: raw,
      contentType: "application/x-www-form-urlencoded",
      // An unscoped body that cannot be read cannot name its company.
      companyId: p.name.includes(":companyId") ? p.companyId() : null,
    });
    expect(await jobsForEvent(row!.id)).toHaveLength(0);
    // A signed body is stored even when invalid; the same body again is still 422, counted once.
    const again = await send(raw, { contentType: "application/x-www-form-urlencoded" });
    expect(again.status).toBe(422);
    expect(await rowsWithHash(raw)).toMatchObject([{ duplicateCount: 1 }]);
  });

  it("422 for signed JSON that is not a Cal.com envelope, with details; stored INVALID", async () => {
    const notEnvelope = JSON.stringify({ hello: "world", n: ++n });
    const res = await send(notEnvelope);
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ error: "invalid_payload", details: [expect.objectContaining({ path: "triggerEvent" })] });
    expect(await rowsWithHash(notEnvelope)).toMatchObject([{ status: "INVALID", triggerEvent: "UNKNOWN", payload: null, rawBody: notEnvelope }]);

    const badDate = serialize({ ...freshBooking(p.eventTypeId), createdAt: "yesterday" });
    const res2 = await send(badDate);
    expect(res2.status).toBe(422);
    expect(res2.body.details).toEqual([{ path: "createdAt", message: expect.any(String) }]);
    const [row] = await rowsWithHash(badDate);
    expect(row).toMatchObject({ status: "INVALID", triggerEvent: "BOOKING_CREATED" });
    expect(await jobsForEvent(row!.id)).toHaveLength(0);
  });

  it("422 never for an unsigned body: that is 401 and nothing is stored", async () => {
    const raw = `not json ${++n}`;
    const res = await send(raw, { signature: signBody("wrong-secret-0123456789abcdef", raw) });
    expect(res.status).toBe(401);
    expect(await rowsWithHash(raw)).toHaveLength(0);
  });

  it("429 + Retry-After after 20 failed verifications from one address; a signed delivery still gets 202", async () => {
    const raw = serialize(freshBooking(p.eventTypeId));
    const bad = signBody("not-the-secret-0123456789abcdef", raw);
    for (let i = 0; i < 20; i++) expect((await send(raw, { signature: bad })).status).toBe(401);
    const limited = await send(raw, { signature: bad });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: "rate_limited" });
    const retryAfter = Number(limited.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Correctly signed traffic is never throttled, even from the blocked address.
    const ok = await send(raw);
    expect(ok.status).toBe(202);
    expect((await send(raw, { signature: null })).status).toBe(429);
    expect(await rowsWithHash(raw)).toHaveLength(1);
  });

  it("503 + Retry-After when add_job fails: the event row is rolled back with it", async () => {
    const raw = serialize(freshBooking(p.eventTypeId));
    const restore = await breakAddJob();
    try {
      const res = await send(raw);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ error: "unavailable" });
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    } finally {
      await restore();
    }
    expect(await rowsWithHash(raw)).toHaveLength(0);
    // Once add_job works again, the same delivery is stored normally (not as a duplicate).
    const again = await send(raw);
    expect(again.status).toBe(202);
    expect(again.body.duplicate).toBe(false);
    expect(await jobsForEvent(eventIdOf(again))).toHaveLength(1);
  });

  it("503 + Retry-After while the database is unreachable; never a 2xx, and nothing appears later", async () => {
    const warm = serialize(freshBooking(p.eventTypeId));
    const cold = serialize(freshBooking(p.eventTypeId));
    expect((await send(serialize(freshBooking(p.eventTypeId)))).status).toBe(202); // secrets cached
    const restore = await takeDatabaseDown();
    let statuses: number[];
    let retryAfter: (string | undefined)[];
    try {
      const a = await send(warm);
      invalidateWebhookSecrets(); // and with the secrets to be loaded from the database
      const b = await send(cold);
      statuses = [a.status, b.status];
      retryAfter = [a.headers["retry-after"], b.headers["retry-after"]];
      expect(a.body).toEqual({ error: "unavailable" });
    } finally {
      await restore();
    }
    expect(statuses).toEqual([503, 503]);
    expect(retryAfter.every((v) => Number(v) > 0)).toBe(true);
    expect(await rowsWithHash(warm)).toHaveLength(0);
    expect(await rowsWithHash(cold)).toHaveLength(0);
    expect((await send(warm)).status).toBe(202);
  });

  it("accepts the flat MEETING_* shape (no envelope time) and unknown triggers", async () => {
    const flat = serialize(meetingEndedFlat({ uid: `bk_flat_${++n}`, eventTypeId: p.eventTypeId }));
    const res = await send(flat);
    expect(res.status).toBe(202);
    expect(await rowsWithHash(flat)).toMatchObject([{ triggerEvent: "MEETING_ENDED", status: "RECEIVED", eventCreatedAt: null }]);

    const unknown = serialize(unknownTrigger({ uid: `bk_unknown_${++n}`, eventTypeId: p.eventTypeId }));
    const res2 = await send(unknown);
    expect(res2.status).toBe(202);
    const [row] = await rowsWithHash(unknown);
    expect(row).toMatchObject({ triggerEvent: "BOOKING_LOCATION_UPDATED", status: "RECEIVED" });
    expect(await jobsForEvent(row!.id)).toHaveLength(1);
  });
});

describe("verification details", () => {
  const send = (body: Body | string | Buffer, o: PostOptions = {}) =>
    deliver(t, scopedPath(scoped.companyId), body, { secret: scoped.secret, ...o });

  it("verifies the exact bytes: pretty-printed JSON and non-ASCII text as sent", async () => {
    const body = ping({ createdAt: new Date(Date.UTC(2025, 1, 1, 0, 0, 0, ++n)).toISOString() });
    (body["payload"] as Record<string, unknown>)["note"] = "Zoë’s café ☕";
    const pretty = JSON.stringify(body, null, 2);
    const res = await send(pretty);
    expect(res.status).toBe(202);
    const row = await db().webhookEvent.findUniqueOrThrow({ where: { id: eventIdOf(res) } });
    expect(row.bodySha256).toBe(sha256(pretty));
    expect((row.payload as { payload: { note: string } }).payload.note).toBe("Zoë’s café ☕");
  });

  it("accepts any Content-Type, or none, and keeps the one sent", async () => {
    for (const contentType of ["application/json; charset=utf-8", "text/plain", "not a media type", null]) {
      const raw = serialize(freshBooking(SCOPED_EVENT_TYPE));
      const res = await send(raw, { contentType });
      expect({ contentType, status: res.status }).toEqual({ contentType, status: 202 });
      expect(await rowsWithHash(raw)).toMatchObject([{ contentType }]);
    }
  });

  it("stores JSON that PostgreSQL's jsonb would refuse (NUL, lone surrogate) instead of failing", async () => {
    const raw = serialize(freshBooking(SCOPED_EVENT_TYPE, { odd: "a\u0000b\ud800c" }));
    expect(raw).toContain("\\u0000");
    const res = await send(raw);
    expect(res.status).toBe(202);
    const row = await db().webhookEvent.findUniqueOrThrow({ where: { id: eventIdOf(res) } });
    expect((row.payload as { payload: { odd: string } }).payload.odd).toBe("a\uFFFDb\uFFFDc");
  });

  it("401 for an unknown company, a malformed id or another type's id; a raw UUID is accepted", async () => {
    const raw = serialize(freshBooking(SCOPED_EVENT_TYPE));
    const sign = { secret: scoped.secret };
    const paths = [
      scopedPath(randomUUID()),
      "/webhooks/calcom/not-a-global-id",
      `/webhooks/calcom/${encodeURIComponent(encodeGlobalID("Service", scoped.companyId))}`,
      `/webhooks/calcom/${encodeURIComponent(companyGid("not-a-uuid"))}`,
    ];
    for (const path of paths) {
      const res = await deliver(t, path, raw, sign);
      expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 401, body: { error: "invalid_signature" } });
    }
    expect(await rowsWithHash(raw)).toHaveLength(0);
    const byUuid = await deliver(t, `/webhooks/calcom/${scoped.companyId}`, raw, sign);
    expect(byUuid.status).toBe(202);
    expect(await rowsWithHash(raw)).toMatchObject([{ companyId: scoped.companyId }]);
  });

  it("rejects an expired secret and accepts every active one", async () => {
    const c = await createCompany();
    const expired = await createWebhookSecret(c.id, "expired-secret-0123456789abcdef", new Date(Date.now() - 1000));
    const current = await createWebhookSecret(c.id, "current-secret-0123456789abcdef");
    const raw = serialize(freshBooking(SCOPED_EVENT_TYPE));
    expect((await deliver(t, scopedPath(c.id), raw, { secret: expired })).status).toBe(401);
    expect((await deliver(t, scopedPath(c.id), raw, { secret: current })).status).toBe(202);
  });

  it("rotation through addWebhookSecret: old and new both verify until the old ones expire", async () => {
    const c = await createCompany();
    const s1 = await createWebhookSecret(c.id, "rotation-secret-one-0123456789");
    const s2 = "rotation-secret-two-0123456789";
    const s3 = "rotation-secret-three-012345678";
    const path = scopedPath(c.id);
    const attempt = async (secret: string) => (await deliver(t, path, freshBooking(SCOPED_EVENT_TYPE), { secret })).status;
    expect(await attempt(s1)).toBe(202); // and now cached in-process

    const ADD = `mutation($id: ID!, $s: String!, $e: Int) { addWebhookSecret(companyId: $id, secret: $s, expiresOldAfterSeconds: $e) { id } }`;
    const r1 = await t.gql(ADD, { id: companyGid(c.id), s: s2, e: 3600 });
    expect(r1.body.errors).toBeUndefined();
    expect(r1.body.data.addWebhookSecret.id).toBe(companyGid(c.id));
    expect(JSON.stringify(r1.body)).not.toContain(s2);
    expect([await attempt(s1), await attempt(s2)]).toEqual([202, 202]);

    // Expire every current secret now: effective at once in this process, no cache wait.
    const r2 = await t.gql(ADD, { id: companyGid(c.id), s: s3, e: 0 });
    expect(r2.body.errors).toBeUndefined();
    expect([await attempt(s1), await attempt(s2), await attempt(s3)]).toEqual([401, 401, 202]);
  });

  it("secrets are reloaded before their cache entry expires: a stalled read of webhook_secrets then holds up no delivery", async () => {
    const c = await createCompany();
    const secret = await createWebhookSecret(c.id, "refresh-ahead-secret-0123456789");
    const attempt = async () => (await deliver(t, scopedPath(c.id), freshBooking(SCOPED_EVENT_TYPE), { secret })).status;
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    expect(await attempt()).toBe(202); // loads and caches the secrets
    const loadedAt = Date.now(); // the entry is at most this old from here on
    // In the entry's last second, a delivery is answered from it and starts the reload.
    await wait(SECRET_CACHE_TTL_MS - SECRET_REFRESH_AHEAD_MS + 100 - (Date.now() - loadedAt));
    expect(await attempt()).toBe(202);
    // Past the first entry's expiry, with the table locked: the reloaded entry answers at once
    // (before, every delivery here waited for a read of webhook_secrets).
    await wait(SECRET_CACHE_TTL_MS + 100 - (Date.now() - loadedAt));
    const locker = await pool().connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE webhook_secrets IN ACCESS EXCLUSIVE MODE");
    // Released after 3 s whatever happens, so a delivery that does wait on the read still ends.
    let released = false;
    const unlock = setTimeout(() => void locker.query("ROLLBACK").finally(() => (released = true)), 3_000);
    try {
      expect(await attempt()).toBe(202);
      expect(released).toBe(false);
    } finally {
      clearTimeout(unlock);
      if (!released) await locker.query("ROLLBACK");
      locker.release();
    }
  });
});

describe("unscoped paths", () => {
  it("store an event whose eventTypeId no service has (or several companies have) as UNMATCHED, without a job", async () => {
    const other = await createCompany();
    const twice = await createCompany();
    await createService(other.id, { calcomEventTypeId: 9100 });
    await createService(twice.id, { calcomEventTypeId: 9100 });
    for (const [path, eventTypeId] of [
      ["/webhooks/calcom", 424242],
      ["/api/calcom/webhook", 9100],
    ] as const) {
      const raw = serialize(freshBooking(eventTypeId));
      const res = await deliver(t, path, raw, { secret: SHARED_SECRET });
      expect(res.status).toBe(202);
      expect(res.body.duplicate).toBe(false);
      const [row] = await rowsWithHash(raw);
      expect(row).toMatchObject({ status: "UNMATCHED", companyId: null });
      expect(await jobsForEvent(row!.id)).toHaveLength(0);
      // Dedupe holds without a company too (partial unique index on the hash).
      const again = await deliver(t, path, raw, { secret: SHARED_SECRET });
      expect(again.body).toEqual({ id: eventGid(row!.id), duplicate: true });
    }
  });

  it("answer 401 to everything while CALCOM_WEBHOOK_SECRET is unset", async () => {
    const saved = t.env;
    const { CALCOM_WEBHOOK_SECRET: _unset, ...rest } = saved;
    setEnv(rest);
    try {
      const raw = serialize(freshBooking(UNSCOPED_EVENT_TYPE));
      for (const path of ["/webhooks/calcom", "/api/calcom/webhook"]) {
        for (const secret of [SHARED_SECRET, ""]) {
          expect((await deliver(t, path, raw, { secret })).status).toBe(401);
        }
        expect((await deliver(t, path, raw, { signature: "no-secret-provided" })).status).toBe(401);
      }
      expect(await rowsWithHash(raw)).toHaveLength(0);
    } finally {
      setEnv(saved);
    }
  });

  it("do not accept a company's own secret (only CALCOM_WEBHOOK_SECRET)", async () => {
    const raw = serialize(freshBooking(SCOPED_EVENT_TYPE));
    expect((await deliver(t, "/webhooks/calcom", raw, { secret: scoped.secret })).status).toBe(401);
  });
});

describe("observability of a delivery", () => {
  it("sets company, trigger and outcome on the request's server span", async () => {
    const res = await deliver(t, scopedPath(scoped.companyId), freshBooking(SCOPED_EVENT_TYPE), { secret: scoped.secret });
    expect(res.status).toBe(202);
    const server = spanExporter()
      .getFinishedSpans()
      .find((s) => s.spanContext().traceId === res.headers["x-trace-id"] && s.kind === SpanKind.SERVER);
    expect(server?.attributes).toMatchObject({
      "calsync.company_id": scoped.companyId,
      "calsync.webhook.trigger": "BOOKING_CREATED",
      "calsync.webhook.outcome": "accepted",
      "calsync.correlation_id": res.headers["x-request-id"],
    });
    // The enqueue is a PRODUCER span in the same trace.
    const producer = spanExporter()
      .getFinishedSpans()
      .find((s) => s.spanContext().traceId === res.headers["x-trace-id"] && s.kind === SpanKind.PRODUCER);
    expect(producer?.name).toBe("process_webhook_event publish");
  });

  it("keeps a caller's x-request-id as the event's correlation id", async () => {
    const res = await deliver(t, scopedPath(scoped.companyId), freshBooking(SCOPED_EVENT_TYPE), {
      secret: scoped.secret,
      headers: { "x-request-id": "calcom-delivery-42" },
    });
    expect(res.headers["x-request-id"]).toBe("calcom-delivery-42");
    expect(await db().webhookEvent.findUniqueOrThrow({ where: { id: eventIdOf(res) } })).toMatchObject({
      correlationId: "calcom-delivery-42",
    });
  });
});
