/**
 * Nothing signed is lost, seen from outside (issue 8): the 202 id round-trips through GraphQL;
 * every correctly signed body is stored, whatever PostgreSQL's jsonb thinks of it, with its exact
 * bytes retrievable; and an over-long or malformed `:companyId` is a 401, never a 414 or 400.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { pool } from "../src/db/client.ts";
import { connectCompany, createCompany, createService, createWebhookSecret } from "./factories.ts";
import { bookingCreated, serialize } from "./fixtures/webhooks.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { deliver, runWebhookJobs, scopedPath } from "./support/webhooks.ts";

const SHARED_SECRET = "shared-unscoped-secret-nothing-lost-01";
const EVENT_TYPE = 6101;

let t: TestApp;
let company: { id: string; secret: string };

beforeAll(async () => {
  t = await startTestApp({ CALCOM_WEBHOOK_SECRET: SHARED_SECRET });
  const c = await createCompany();
  company = { id: c.id, secret: await createWebhookSecret(c.id) };
  await connectCompany(c.id); // proved: unscoped deliveries of its event types reach it
  await createService(c.id, { calcomEventTypeId: EVENT_TYPE });
});
afterAll(async () => t.close());
beforeEach(async () => {
  await pool().query("DELETE FROM rate_limits");
});

const EVENT = `query($id: ID!) {
  webhookEvent(id: $id) { id status triggerEvent company { id } payload rawBodyBase64 lastError }
}`;

async function eventById(id: string) {
  const res = await t.gql(EVENT, { id });
  expect(res.body.errors).toBeUndefined();
  return res.body.data.webhookEvent as {
    id: string;
    status: string;
    triggerEvent: string;
    company: { id: string } | null;
    payload: Record<string, unknown> | null;
    rawBodyBase64: string | null;
    lastError: string | null;
  } | null;
}

let n = 0;
/** A signed booking body whose payload field `odd` is replaced by `literal` (raw JSON text). */
function bookingWith(literal: string, eventTypeId = EVENT_TYPE): { raw: string; uid: string } {
  const uid = `bk_lost_${++n}_${randomUUID().slice(0, 8)}`;
  const raw = serialize(bookingCreated({ uid, eventTypeId, extra: { odd: "__ODD__" } })).replace('"__ODD__"', literal);
  return { raw, uid };
}

describe("the 202 id", () => {
  it("is the event's GraphQL id: webhookEvent(id:) takes it as it is, and the lists show the same string", async () => {
    const { raw } = bookingWith('"plain"');
    const res = await deliver(t, scopedPath(company.id), raw, { secret: company.secret });
    expect(res.status).toBe(202);
    const event = await eventById(res.body.id);
    expect(event).toMatchObject({ id: res.body.id, status: "RECEIVED", triggerEvent: "BOOKING_CREATED", rawBodyBase64: null });

    const lists = await t.gql(`query($c: ID!) {
      webhookEvents(first: 5) { edges { node { id } } }
      company(id: $c) { webhookEvents(first: 5) { edges { node { id } } } }
    }`, { c: event!.company!.id });
    expect(lists.body.errors).toBeUndefined();
    expect(lists.body.data.webhookEvents.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(res.body.id);
    expect(lists.body.data.company.webhookEvents.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(res.body.id);

    // A duplicate names the same id, in the same form.
    const again = await deliver(t, scopedPath(company.id), raw, { secret: company.secret });
    expect(again.body).toEqual({ id: res.body.id, duplicate: true });
  });
});

describe("every correctly signed body is stored", () => {
  const DEPTH = 50_000;
  const cases: { name: string; literal: string; check: (payload: Record<string, unknown>) => void }[] = [
    {
      name: "a NUL character (\\u0000), in a value and in a key",
      literal: '{"a\\u0000b":"x\\u0000y"}',
      check: (p) => expect(p["odd"]).toEqual({ "a\uFFFDb": "x\uFFFDy" }),
    },
    {
      name: "a lone surrogate",
      literal: '"half \\ud83d of an emoji, and \\udc00 alone"',
      check: (p) => expect(p["odd"]).toBe("half \uFFFD of an emoji, and \uFFFD alone"),
    },
    {
      name: `nesting ${DEPTH.toLocaleString("en")} levels deep (jsonb refuses it)`,
      literal: "[".repeat(DEPTH) + "]".repeat(DEPTH),
      check: (p) => {
        let v: unknown = p["odd"];
        let depth = 0;
        while (Array.isArray(v)) {
          v = v[0];
          depth++;
        }
        expect(typeof v).toBe("string"); // the cut is marked, and the bytes are beside it
        expect(depth).toBeGreaterThan(100);
      },
    },
    {
      name: "a number jsonb cannot hold (1e999999)",
      literal: "1e999999",
      check: (p) => expect(p["odd"]).toBeNull(),
    },
  ];

  for (const c of cases) {
    it(`${c.name}: 202, stored with its exact bytes, and processed`, async () => {
      const { raw, uid } = bookingWith(c.literal);
      const res = await deliver(t, scopedPath(company.id), raw, { secret: company.secret });
      expect(res.status).toBe(202);
      expect(res.body.duplicate).toBe(false);

      const stored = await eventById(res.body.id);
      expect(stored).toMatchObject({ status: "RECEIVED", triggerEvent: "BOOKING_CREATED" });
      expect(Buffer.from(stored!.rawBodyBase64!, "base64").toString("utf8")).toBe(raw);
      const payload = stored!.payload!["payload"] as Record<string, unknown>;
      expect(payload["uid"]).toBe(uid);
      c.check(payload);

      await runWebhookJobs();
      expect(await eventById(res.body.id)).toMatchObject({ status: "PROCESSED", lastError: null });
      const bookings = await t.gql(`query($c: ID!) { company(id: $c) { bookings(first: 50) { edges { node { uid status } } } } }`, {
        c: stored!.company!.id,
      });
      expect(bookings.body.data.company.bookings.edges.map((e: { node: { uid: string } }) => e.node.uid)).toContain(uid);
    });
  }

  it("many at once (written together in one statement under load): each stored once with one job, a refused body in its safe form, duplicates counted", async () => {
    const plain = Array.from({ length: 30 }, () => bookingWith('"plain"'));
    const refused = Array.from({ length: 5 }, () => bookingWith("1e999999"));
    const twice = plain[0]!;
    const bodies = [...plain, ...refused, twice, twice, twice];
    const responses = await Promise.all(bodies.map(({ raw }) => deliver(t, scopedPath(company.id), raw, { secret: company.secret })));
    expect(responses.map((r) => r.status)).toEqual(bodies.map(() => 202));
    expect(responses.filter((r) => r.body.duplicate === true)).toHaveLength(3);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(35);

    const { rows } = await pool().query<{
      id: string; uid: string; duplicate_count: number; raw_bytes: Buffer | null; jobs: number;
      booking_uid: string; calcom_event_type_id: number; content_type: string; has_time: boolean; has_carrier: boolean; status: string;
    }>(
      `SELECT e.id::text, e.payload->'payload'->>'uid' AS uid, e.duplicate_count, e.raw_bytes, e.booking_uid, e.calcom_event_type_id,
              e.content_type, e.event_created_at IS NOT NULL AS has_time, jsonb_typeof(e.trace_carrier) = 'object' AS has_carrier, e.status::text,
              (SELECT count(*)::int FROM graphile_worker._private_jobs j WHERE j.payload->>'eventId' = e.id::text) AS jobs
         FROM webhook_events e WHERE e.payload->'payload'->>'uid' = ANY($1::text[])`,
      [bodies.map((b) => b.uid)],
    );
    expect(rows).toHaveLength(35);
    const byUid = new Map(rows.map((r) => [r.uid, r]));
    for (const b of plain) {
      expect(byUid.get(b.uid)).toMatchObject({
        raw_bytes: null, jobs: 1, booking_uid: b.uid, calcom_event_type_id: EVENT_TYPE, content_type: "application/json",
        has_time: true, has_carrier: true, status: "RECEIVED",
      });
    }
    for (const b of refused) expect(byUid.get(b.uid)!.raw_bytes?.toString("utf8")).toBe(b.raw);
    for (const b of refused) expect(byUid.get(b.uid)!.jobs).toBe(1);
    expect(byUid.get(twice.uid)!.duplicate_count).toBe(3);

    await runWebhookJobs();
    for (const r of responses) expect(await eventById(r.body.id)).toMatchObject({ status: "PROCESSED", lastError: null });
  });

  it("the same on the unscoped paths (matched by event type)", async () => {
    for (const path of ["/webhooks/calcom", "/api/calcom/webhook"]) {
      const { raw } = bookingWith('{"n":1e999999,"s":"\\u0000","d":' + "[".repeat(DEPTH) + "]".repeat(DEPTH) + "}");
      const res = await deliver(t, path, raw, { secret: SHARED_SECRET });
      expect({ path, status: res.status }).toEqual({ path, status: 202 });
      const stored = await eventById(res.body.id);
      expect(stored).toMatchObject({ status: "RECEIVED" });
      expect(Buffer.from(stored!.rawBodyBase64!, "base64").toString("utf8")).toBe(raw);
    }
  });

  it("a NUL in the trigger itself: stored, its trigger made safe", async () => {
    const raw = serialize(bookingCreated({ uid: `bk_lost_trigger_${randomUUID()}`, eventTypeId: EVENT_TYPE })).replace(
      '"triggerEvent":"BOOKING_CREATED"',
      '"triggerEvent":"BOOKING_CREATED\\u0000"',
    );
    const res = await deliver(t, scopedPath(company.id), raw, { secret: company.secret });
    expect(res.status).toBe(202);
    const stored = await eventById(res.body.id);
    expect(stored!.triggerEvent).toBe("BOOKING_CREATED\uFFFD");
    expect(Buffer.from(stored!.rawBodyBase64!, "base64").toString("utf8")).toBe(raw);
    await runWebhookJobs();
    expect(await eventById(res.body.id)).toMatchObject({ status: "IGNORED" }); // an unknown trigger
  });

  it("bodies that are not JSON with raw NUL bytes, or not UTF-8: 422, stored INVALID with their exact bytes", async () => {
    const bodies = [
      Buffer.from(`name=Jane\u0000Doe&x=${randomUUID()}`, "utf8"),
      Buffer.concat([Buffer.from(`{"triggerEvent":"PING","x":"${randomUUID()}","bad":"`), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('"}')]),
    ];
    for (const raw of bodies) {
      const res = await deliver(t, scopedPath(company.id), raw, { secret: company.secret, contentType: "application/x-www-form-urlencoded" });
      expect(res.status).toBe(422);
      expect(res.body.error).toBe("invalid_payload");
      const { rows } = await pool().query<{ id: string; status: string; raw_bytes: Buffer }>(
        "SELECT id::text, status::text, raw_bytes FROM webhook_events WHERE body_sha256 = encode(sha256($1::bytea), 'hex')",
        [raw],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.status).toBe("INVALID");
      expect(rows[0]!.raw_bytes.equals(raw)).toBe(true);
    }
  });
});

describe("only the contract's statuses", () => {
  it("a 5,000-character or malformed :companyId is a 401, nothing stored", async () => {
    const { raw } = bookingWith('"long id"');
    const paths = [
      `/webhooks/calcom/${"A".repeat(5000)}`,
      `/webhooks/calcom/${encodeURIComponent("Company:" + "9".repeat(5000))}`,
      "/webhooks/calcom/%E0%A4%A",
      "/webhooks/calcom/%",
      "/webhooks/calcom/a%00b",
    ];
    for (const path of paths) {
      const res = await deliver(t, path, raw, { secret: company.secret });
      expect({ path: path.slice(0, 40), status: res.status, body: res.body }).toEqual({
        path: path.slice(0, 40),
        status: 401,
        body: { error: "invalid_signature" },
      });
    }
    const { rows } = await pool().query("SELECT 1 FROM webhook_events WHERE body_sha256 = encode(sha256($1::bytea), 'hex')", [
      Buffer.from(raw),
    ]);
    expect(rows).toHaveLength(0);
  });
});
