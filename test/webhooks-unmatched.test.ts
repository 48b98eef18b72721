/**
 * UNMATCHED is not a dead end (issue 8). Events on the unscoped paths that name no usable event
 * type are matched by their booking; those for an event type no service has yet are matched after
 * the sync that brings it; retryWebhookEvent matches again; the admin lists them all with
 * Query.webhookEvents. Everything through HTTP and GraphQL.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { pool } from "../src/db/client.ts";
import { createApiTokenFor, createService, createWebhookSecret } from "./factories.ts";
import { bookingCancelled, bookingCreated, bookingNoShowUpdated, serialize, type Body } from "./fixtures/webhooks.ts";
import { connectedCompany, drainWithRetries, gid, startSyncHarness, syncViaGraphql, type SyncHarness } from "./support/sync.ts";
import { deliver, runWebhookJobs, scopedPath } from "./support/webhooks.ts";

const SHARED_SECRET = "shared-unscoped-secret-unmatched-0001";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness({ env: { CALCOM_WEBHOOK_SECRET: SHARED_SECRET } });
});
afterAll(async () => h.close());
beforeEach(async () => {
  await pool().query("DELETE FROM rate_limits");
});

const EVENT = `query($id: ID!) { webhookEvent(id: $id) { id status company { id } lastError duplicateCount } }`;
const RETRY = `mutation($id: ID!) { retryWebhookEvent(id: $id) { id status company { id } } }`;
const BOOKING = `query($c: ID!) { company(id: $c) { bookings(first: 100) { edges { node { uid status } } } } }`;

async function event(id: string) {
  const res = await h.t.gql(EVENT, { id });
  expect(res.body.errors).toBeUndefined();
  return res.body.data.webhookEvent as { id: string; status: string; company: { id: string } | null; lastError: string | null; duplicateCount: number };
}

async function sendUnscoped(body: Body, path = "/webhooks/calcom"): Promise<string> {
  const res = await deliver(h.t, path, serialize(body), { secret: SHARED_SECRET });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

const uid = (what: string) => `bk_unmatched_${what}_${randomUUID().slice(0, 8)}`;
let eventTypeSeq = 880_000;
let bookingSeq = 760_000;
/** A booking id no other test uses (events are matched by it too). */
const bookingId = () => ++bookingSeq;

async function companyWithService() {
  const { company } = await connectedCompany(h.fake, 0);
  const eventTypeId = ++eventTypeSeq;
  await createService(company.id, { calcomEventTypeId: eventTypeId });
  return { company, eventTypeId };
}

describe("matching by booking", () => {
  it("BOOKING_NO_SHOW_UPDATED on an unscoped path is UNMATCHED, then PROCESSED once its booking is known", async () => {
    const { company, eventTypeId } = await companyWithService();
    const b = uid("noshow");
    const noShow = await sendUnscoped(bookingNoShowUpdated({ uid: b, bookingId: 700_001, createdAt: "2025-03-14T10:00:00.000Z" }));
    expect(await event(noShow)).toMatchObject({ status: "UNMATCHED", company: null });

    // The admin sees it in the list of unmatched events.
    const listed = await h.t.gql(`{ webhookEvents(first: 50, status: UNMATCHED) { totalCount edges { node { id triggerEvent } } } }`);
    expect(listed.body.data.webhookEvents.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(noShow);

    // The booking arrives (matched by its event type) and is processed; the no-show follows.
    const created = await sendUnscoped(
      bookingCreated({ uid: b, bookingId: 700_001, eventTypeId, createdAt: "2025-03-14T09:00:00.000Z" }),
      "/api/calcom/webhook",
    );
    await runWebhookJobs();
    expect(await event(created)).toMatchObject({ status: "PROCESSED", company: { id: gid("Company", company.id) } });
    // Matched when the booking was created, and processed in the same run of the worker.
    await runWebhookJobs();
    expect(await event(noShow)).toMatchObject({ status: "PROCESSED", company: { id: gid("Company", company.id) } });
    const { rows } = await pool().query("SELECT no_show_attendees FROM bookings WHERE uid = $1", [b]);
    expect(rows).toEqual([{ no_show_attendees: 1 }]);
  });

  it("a no-show or a request-reschedule cancellation (no eventTypeId) for a known booking is matched on arrival", async () => {
    const { company, eventTypeId } = await companyWithService();
    const b = uid("known");
    await sendUnscoped(bookingCreated({ uid: b, bookingId: 700_002, eventTypeId, createdAt: "2025-03-14T09:00:00.000Z" }));
    await runWebhookJobs();

    const noShow = await sendUnscoped(bookingNoShowUpdated({ uid: b, bookingId: 700_002, createdAt: "2025-03-14T10:00:00.000Z" }));
    const cancel = bookingCancelled({ uid: b, bookingId: 700_002, requestReschedule: true, createdAt: "2025-03-14T11:00:00.000Z" });
    ((cancel["payload"] as Record<string, unknown>)["eventTypeId"] as unknown) = null;
    const cancelled = await sendUnscoped(cancel);
    for (const id of [noShow, cancelled]) {
      expect(await event(id)).toMatchObject({ status: "RECEIVED", company: { id: gid("Company", company.id) } });
    }
    await runWebhookJobs();
    expect(await event(noShow)).toMatchObject({ status: "PROCESSED" });
    expect(await event(cancelled)).toMatchObject({ status: "PROCESSED" });
    const res = await h.t.gql(BOOKING, { c: gid("Company", company.id) });
    expect(res.body.data.company.bookings.edges).toContainEqual({ node: { uid: b, status: "CANCELLED" } });
  });

  it("an event naming only the Cal.com booking id (AFTER_GUESTS_CAL_VIDEO_NO_SHOW) is matched by it", async () => {
    const { company, eventTypeId } = await companyWithService();
    await sendUnscoped(bookingCreated({ uid: uid("byid"), bookingId: 700_003, eventTypeId }));
    await runWebhookJobs();
    const id = await sendUnscoped({
      triggerEvent: "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
      createdAt: "2025-03-14T12:00:00.000Z",
      payload: { bookingId: 700_003, webhook: { id: "wh_1" } },
    });
    expect(await event(id)).toMatchObject({ status: "RECEIVED", company: { id: gid("Company", company.id) } });
  });
});

describe("matching after a sync", () => {
  it("the first booking of an event type created since the last sync: retry says why, the next sync matches and processes it", async () => {
    const { company, apiKey } = await connectedCompany(h.fake, 2);
    await syncViaGraphql(h.t, company.id);
    await drainWithRetries();
    const [fresh] = h.fake.addEventTypes(apiKey, 1);
    const b = uid("fresh");
    const id = await sendUnscoped(bookingCreated({ uid: b, bookingId: bookingId(), eventTypeId: fresh!.id }));
    expect(await event(id)).toMatchObject({ status: "UNMATCHED" });

    const early = await h.t.gql(RETRY, { id });
    expect(early.body.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    expect(early.body.errors[0].message).toContain(`event type ${fresh!.id}`);

    await syncViaGraphql(h.t, company.id);
    await drainWithRetries();
    expect(await event(id)).toMatchObject({ status: "PROCESSED", company: { id: gid("Company", company.id) } });
    const res = await h.t.gql(BOOKING, { c: gid("Company", company.id) });
    expect(res.body.data.company.bookings.edges).toContainEqual({ node: { uid: b, status: "ACCEPTED" } });
  });

  it("retryWebhookEvent matches an UNMATCHED event once its company is known, and audits the retry", async () => {
    const { company } = await connectedCompany(h.fake, 0);
    const eventTypeId = ++eventTypeSeq;
    const id = await sendUnscoped(bookingCreated({ uid: uid("retry"), bookingId: bookingId(), eventTypeId }));
    expect(await event(id)).toMatchObject({ status: "UNMATCHED" });
    await createService(company.id, { calcomEventTypeId: eventTypeId });
    const retried = await h.t.gql(RETRY, { id });
    expect(retried.body.errors).toBeUndefined();
    expect(retried.body.data.retryWebhookEvent).toMatchObject({ status: "RECEIVED", company: { id: gid("Company", company.id) } });
    await runWebhookJobs();
    expect(await event(id)).toMatchObject({ status: "PROCESSED" });
    const audit = await h.t.gql(`query($c: ID!) { company(id: $c) { auditEvents(first: 10) { edges { node { action } } } } }`, {
      c: gid("Company", company.id),
    });
    expect(audit.body.data.company.auditEvents.edges).toContainEqual({ node: { action: "webhook_event.retried" } });
  });

  it("the same delivery also received on the company's own path is counted there, not processed twice", async () => {
    const { company } = await connectedCompany(h.fake, 0);
    const secret = await createWebhookSecret(company.id);
    const eventTypeId = ++eventTypeSeq;
    const raw = serialize(bookingCreated({ uid: uid("twice"), bookingId: bookingId(), eventTypeId }));
    const unscoped = await deliver(h.t, "/webhooks/calcom", raw, { secret: SHARED_SECRET });
    const scoped = await deliver(h.t, scopedPath(company.id), raw, { secret });
    expect([unscoped.status, scoped.status]).toEqual([202, 202]);
    await createService(company.id, { calcomEventTypeId: eventTypeId });
    await h.t.gql(RETRY, { id: unscoped.body.id });
    expect(await event(unscoped.body.id)).toMatchObject({ status: "IGNORED", lastError: expect.stringContaining(scoped.body.id) });
    expect(await event(scoped.body.id)).toMatchObject({ duplicateCount: 1 });
  });
});

describe("Query.webhookEvents", () => {
  it("admin: every company's events and the unmatched ones, filtered and paged; a company token: its own only", async () => {
    const { company, eventTypeId } = await companyWithService();
    const other = await companyWithService();
    const mine = await sendUnscoped(bookingCreated({ uid: uid("mine"), bookingId: bookingId(), eventTypeId }));
    const theirs = await sendUnscoped(bookingCreated({ uid: uid("theirs"), bookingId: bookingId(), eventTypeId: other.eventTypeId }));
    const nobodys = await sendUnscoped(bookingCreated({ uid: uid("nobody"), bookingId: bookingId(), eventTypeId: 999_999_001 }));

    const LIST = `query($after: String, $status: WebhookEventStatus, $trigger: String) {
      webhookEvents(first: 2, after: $after, status: $status, triggerEvent: $trigger) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { id status company { id } } }
      }
    }`;
    const all: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const res = await h.t.gql(LIST, { after, trigger: "BOOKING_CREATED" });
      expect(res.body.errors).toBeUndefined();
      const conn = res.body.data.webhookEvents;
      all.push(...conn.edges.map((e: { node: { id: string } }) => e.node.id));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(all).toEqual(expect.arrayContaining([mine, theirs, nobodys]));
    expect(new Set(all).size).toBe(all.length);

    const unmatched = await h.t.gql(LIST, { status: "UNMATCHED" });
    expect(unmatched.body.data.webhookEvents.edges.every((e: { node: { status: string } }) => e.node.status === "UNMATCHED")).toBe(true);

    const token = await createApiTokenFor(company.id);
    const own = await h.t.gql(`{ webhookEvents(first: 100) { totalCount edges { node { id company { id } } } } }`, {}, token);
    expect(own.body.errors).toBeUndefined();
    const ids = own.body.data.webhookEvents.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(ids).toContain(mine);
    expect(ids).not.toContain(theirs);
    expect(ids).not.toContain(nobodys);
    expect(own.body.data.webhookEvents.totalCount).toBe(ids.length);
  });
});

describe("the unscoped lookup", () => {
  it("finds the company of an event type through an index on calcom_event_type_id alone (no scan of every service)", async () => {
    const client = await pool().connect();
    try {
      await client.query("BEGIN");
      await client.query("SET LOCAL enable_seqscan = off");
      const { rows } = await client.query<{ "QUERY PLAN": string }>(
        "EXPLAIN SELECT DISTINCT company_id FROM services WHERE calcom_event_type_id = $1",
        [424_242],
      );
      const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
      expect(plan).toContain("services_calcom_event_type_id_idx");
      expect(plan).not.toContain("Seq Scan");
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  });
});
