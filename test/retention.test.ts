/**
 * Retention (issue 12): the daily task scrubs attendee data from processed payloads after
 * WEBHOOK_PAYLOAD_RETENTION_DAYS, deletes webhook events after WEBHOOK_RETENTION_DAYS unless they
 * are unresolved FAILED / INVALID / UNMATCHED, runs after RUN_RETENTION_DAYS (keeping each
 * company's latest), audit events after AUDIT_RETENTION_DAYS, and graphile-worker's permanently
 * failed jobs; in batches that skip rows someone else holds; counted in metrics and logged.
 */
import { randomUUID } from "node:crypto";
import { encodeGlobalID } from "@pothos/plugin-relay";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, pool } from "../src/db/client.ts";
import { runRetention, type RetentionPolicy } from "../src/retention/retention.ts";
import { maintenanceCronItems } from "../src/worker/cron.ts";
import { enqueue } from "../src/worker/enqueue.ts";
import { createAuditEvent, createCompany, createSyncRun, createWebhookEvent } from "./factories.ts";
import { bookingCreated, bookingNoShowUpdated, PERSONAL_DATA } from "./fixtures/webhooks.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { drainJobs } from "./support/worker.ts";
import { captureLogs } from "./support/webhooks.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ RETENTION_BATCH_SIZE: "3", WEBHOOK_PAYLOAD_RETENTION_DAYS: "30", WEBHOOK_RETENTION_DAYS: "90" });
});
afterAll(async () => t.close());

const DAY = 24 * 60 * 60 * 1000;
const daysAgo = (d: number) => new Date(Date.now() - d * DAY);
const PHONE = "+447700900123";

/** A delivered payload full of personal data (attendees, responses, organizer, title, phone). */
function personalPayload(uid: string) {
  return bookingCreated({
    uid,
    extra: {
      attendees: [{ name: PERSONAL_DATA.attendeeName, email: PERSONAL_DATA.attendeeEmail, phoneNumber: PHONE, timeZone: "Europe/London" }],
      smsReminderNumber: PHONE,
      location: PHONE,
    },
  });
}

async function event(companyId: string | null, status: string, ageDays: number, extra: Record<string, unknown> = {}) {
  const uid = `bk_ret_${randomUUID().slice(0, 8)}`;
  return createWebhookEvent(companyId, {
    status: status as never,
    triggerEvent: "BOOKING_CREATED",
    receivedAt: daysAgo(ageDays),
    payload: personalPayload(uid) as never,
    ...extra,
  });
}

const exists = async (id: string) => (await db().webhookEvent.count({ where: { id } })) === 1;

async function metric(kind: string): Promise<number> {
  const res = await t.http().get("/metrics");
  const line = res.text.split("\n").find((l) => l.startsWith("calsync_retention_removed_total{") && l.includes(`kind="${kind}"`));
  return line ? Number(line.split(" ").pop()) : 0;
}

const policy: RetentionPolicy = { payloadDays: 30, webhookDays: 90, runDays: 90, auditDays: 365, batchSize: 3 };

describe("retention", () => {
  it("removes only what is due, in batches, and leaves unresolved FAILED, INVALID, UNMATCHED and RECEIVED events alone", async () => {
    const c = await createCompany();
    // Webhook events of every kind and age.
    const fresh = await event(c.id, "PROCESSED", 10);
    const toScrub = await Promise.all([40, 45, 50, 55, 60, 65, 70].map((d) => event(c.id, d % 2 ? "IGNORED" : "PROCESSED", d)));
    const old = await Promise.all([100, 120, 150, 200].map((d) => event(c.id, "PROCESSED", d)));
    const failed = await event(c.id, "FAILED", 120);
    const failedResolved = await event(c.id, "FAILED", 120);
    const invalid = await event(c.id, "INVALID", 120, { payload: null as never, rawBody: `not json ${PERSONAL_DATA.attendeeEmail}` });
    const unmatched = await event(null, "UNMATCHED", 120);
    const received = await event(c.id, "RECEIVED", 120);
    const recentFailed = await event(c.id, "FAILED", 40);

    // An operator resolves one FAILED event (audited); only that one may go.
    const resolve = await t.gql(`mutation($id: ID!) { resolveWebhookEvent(id: $id) { status resolvedAt } }`, { id: encodeGlobalID("WebhookEvent", failedResolved.id) });
    expect(resolve.body.errors).toBeUndefined();
    expect(resolve.body.data.resolveWebhookEvent).toMatchObject({ status: "FAILED", resolvedAt: expect.any(String) });
    const notResolvable = await t.gql(`mutation($id: ID!) { resolveWebhookEvent(id: $id) { id } }`, { id: encodeGlobalID("WebhookEvent", fresh.id) });
    expect(notResolvable.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "id" });

    // Runs: the old ones go, but each company's latest stays, however old.
    const oldRuns = await Promise.all([200, 150, 100].map((d) => createSyncRun(c.id, { status: "SUCCEEDED", queuedAt: daysAgo(d) })));
    const recentRun = await createSyncRun(c.id, { status: "SUCCEEDED", queuedAt: daysAgo(5) });
    const lonely = await createCompany();
    const onlyRun = await createSyncRun(lonely.id, { status: "FAILED", queuedAt: daysAgo(300) });
    const oldReconciles = await Promise.all(
      [200, 100].map((d) => db().reconcileRun.create({ data: { companyId: c.id, trigger: "SCHEDULED", status: "SUCCEEDED", queuedAt: daysAgo(d), correlationId: randomUUID() } })),
    );
    const recentReconcile = await db().reconcileRun.create({ data: { companyId: c.id, trigger: "SCHEDULED", status: "SUCCEEDED", queuedAt: daysAgo(1), correlationId: randomUUID() } });
    // Audit lines: a year and more.
    const oldAudit = await createAuditEvent(c.id, { createdAt: daysAgo(400) });
    const keptAudit = await createAuditEvent(c.id, { createdAt: daysAgo(300) });
    // graphile-worker: one permanently failed job, one waiting.
    await pool().query("SELECT graphile_worker.add_job('sync_service', json_build_object('serviceId', gen_random_uuid()), max_attempts => 1)");
    await pool().query("UPDATE graphile_worker._private_jobs SET attempts = 1, last_error = 'gave up'");
    const waiting = await enqueue("sync_service", { serviceId: randomUUID() }, { runAt: new Date(Date.now() + DAY) });

    // Someone holds one due event (a job processing it): retention skips it, never waits for it.
    const holder = new pg.Client({ connectionString: t.databaseUrl });
    await holder.connect();
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM webhook_events WHERE id = $1 FOR UPDATE", [old[0]!.id]);
    const before = { scrubbed: await metric("payload_scrubbed"), events: await metric("webhook_events") };
    const logs = captureLogs();
    let result;
    try {
      result = await runRetention(policy);
    } finally {
      logs.stop();
      await holder.query("ROLLBACK");
      await holder.end();
    }

    expect(result).toMatchObject({ payloadScrubbed: 7, webhookEvents: 4, syncRuns: 3, reconcileRuns: 2, auditEvents: 1, failedJobs: 1 });
    // Batches of 3: 7 payloads = 3 + 3 + 1; 4 deletions + 1 skipped = 3 + 1 (+ the empty check).
    expect(result.batches.payload_scrubbed).toBe(3);
    expect(result.batches.webhook_events).toBe(2);

    // Deleted: old processed events and the resolved FAILED one; the held one stays for next time.
    for (const e of old.slice(1)) expect(await exists(e.id)).toBe(false);
    expect(await exists(old[0]!.id)).toBe(true);
    expect(await exists(failedResolved.id)).toBe(false);
    // Kept: fresh, unresolved FAILED/INVALID/UNMATCHED, RECEIVED, and everything scrubbed but young.
    for (const e of [fresh, failed, invalid, unmatched, received, recentFailed, ...toScrub]) expect(await exists(e.id)).toBe(true);
    // Unprocessed events keep their payloads whole (they are still to be processed or looked at).
    for (const e of [failed, unmatched, received, recentFailed]) {
      expect(JSON.stringify((await db().webhookEvent.findUniqueOrThrow({ where: { id: e.id } })).payload)).toContain(PERSONAL_DATA.attendeeEmail);
    }
    expect((await db().webhookEvent.findUniqueOrThrow({ where: { id: fresh.id } })).payloadScrubbedAt).toBeNull();

    expect(await db().syncRun.findMany({ where: { id: { in: [...oldRuns.map((r) => r.id), recentRun.id, onlyRun.id] } }, select: { id: true } })).toEqual(
      expect.arrayContaining([{ id: recentRun.id }, { id: onlyRun.id }]),
    );
    expect(await db().syncRun.count({ where: { id: { in: oldRuns.map((r) => r.id) } } })).toBe(0);
    expect(await db().reconcileRun.count({ where: { id: { in: oldReconciles.map((r) => r.id) } } })).toBe(0);
    expect(await db().reconcileRun.count({ where: { id: recentReconcile.id } })).toBe(1);
    expect(await db().auditEvent.count({ where: { id: { in: [oldAudit.id, keptAudit.id] } } })).toBe(1);
    expect(await db().auditEvent.count({ where: { id: keptAudit.id } })).toBe(1);
    const jobs = await pool().query<{ id: string }>("SELECT id::text FROM graphile_worker._private_jobs");
    expect(jobs.rows.map((r) => r.id)).toEqual([waiting]);

    // Counted and logged.
    expect((await metric("payload_scrubbed")) - before.scrubbed).toBe(7);
    expect((await metric("webhook_events")) - before.events).toBe(4);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l["msg"] === "retention done");
    expect(line).toMatchObject({ payloadScrubbed: 7, webhookEvents: 4, syncRuns: 3, reconcileRuns: 2, auditEvents: 1, failedJobs: 1 });

    // A second run the same day finds only the event that was held.
    const again = await runRetention(policy);
    expect(again).toMatchObject({ payloadScrubbed: 0, webhookEvents: 1, syncRuns: 0, auditEvents: 0, failedJobs: 0 });
  });

  it("scrubbed payloads contain no attendee name, e-mail or phone, and keep the booking facts", async () => {
    const c = await createCompany();
    const wrapped = await event(c.id, "PROCESSED", 31);
    const noShow = await createWebhookEvent(c.id, {
      status: "PROCESSED",
      triggerEvent: "BOOKING_NO_SHOW_UPDATED",
      receivedAt: daysAgo(31),
      payload: bookingNoShowUpdated({ uid: "bk_noshow_scrub", extra: { attendees: [{ email: PERSONAL_DATA.attendeeEmail, noShow: true }, { email: PERSONAL_DATA.guestEmail, noShow: false }] } }) as never,
    });
    const flat = await createWebhookEvent(c.id, {
      status: "PROCESSED",
      triggerEvent: "MEETING_ENDED",
      receivedAt: daysAgo(31),
      payload: { triggerEvent: "MEETING_ENDED", id: 77, uid: "bk_flat_scrub", title: `Meeting with ${PERSONAL_DATA.attendeeName}`, user: { email: PERSONAL_DATA.organizerEmail }, attendees: [{ name: PERSONAL_DATA.attendeeName, phoneNumber: PHONE }] } as never,
    });
    await runRetention(policy);

    const personal = [...Object.values(PERSONAL_DATA), PHONE, "Jane", "Doe"];
    for (const id of [wrapped.id, noShow.id, flat.id]) {
      const row = await db().webhookEvent.findUniqueOrThrow({ where: { id } });
      const text = JSON.stringify(row.payload);
      for (const p of personal) expect(text).not.toContain(p);
      expect(row.payloadScrubbedAt).not.toBeNull();
      expect(row.rawBody).toBeNull();
    }
    const scrubbed = (await db().webhookEvent.findUniqueOrThrow({ where: { id: wrapped.id } })).payload as { triggerEvent: string; payload: Record<string, unknown> };
    expect(scrubbed.triggerEvent).toBe("BOOKING_CREATED");
    expect(scrubbed.payload).toMatchObject({ uid: expect.stringMatching(/^bk_ret_/), bookingId: 41237, eventTypeId: 1187, startTime: "2025-03-20T10:00:00Z", status: "ACCEPTED", attendeeCount: 1 });
    expect(((await db().webhookEvent.findUniqueOrThrow({ where: { id: noShow.id } })).payload as { payload: Record<string, unknown> }).payload).toMatchObject({ attendeeCount: 2, noShowCount: 1 });
    expect((await db().webhookEvent.findUniqueOrThrow({ where: { id: flat.id } })).payload).toMatchObject({ triggerEvent: "MEETING_ENDED", id: 77, uid: "bk_flat_scrub", attendeeCount: 1 });
  });

  it("runs daily as the `retention` task on RETENTION_CRON, with the configured ages", async () => {
    const items = maintenanceCronItems(t.env);
    expect(items.find((i) => i.task === "retention")).toMatchObject({ match: "40 3 * * *", identifier: "daily_retention" });
    const c = await createCompany();
    const due = await event(c.id, "PROCESSED", 95);
    const young = await event(c.id, "PROCESSED", 20);
    await enqueue("retention", { _cron: { ts: new Date().toISOString(), backfilled: false } });
    await drainJobs();
    expect(await exists(due.id)).toBe(false);
    expect(await exists(young.id)).toBe(true);
  });
});
