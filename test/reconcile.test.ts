/**
 * Reconciliation with the Cal.com stand-in: missed bookings, cancellations and reschedules are
 * recovered by the cron and on demand (GraphQL, CLI), each counted once with its trace, audit
 * line and metric; calsync's newer webhook state stands; paging survives 5,000 bookings under the
 * rate budget and a 429; a failed run leaves the watermark; two companies may share a uid.
 */
import { randomUUID } from "node:crypto";
import { decodeGlobalID } from "@pothos/plugin-relay";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CalcomClient } from "../src/calcom/client.ts";
import { db } from "../src/db/client.ts";
import { executeReconcile, requestReconcile } from "../src/reconcile/runs.ts";
import { runReconcileCommand } from "../src/reconcile/command.ts";
import { RateBudget } from "../src/calcom/rate-budget.ts";
import { maintenanceCronItems } from "../src/worker/cron.ts";
import { enqueue } from "../src/worker/enqueue.ts";
import { bookingCancelled, bookingCreated } from "./fixtures/webhooks.ts";
import { connectCompany, createApiTokenFor, createCompany, createWebhookSecret } from "./factories.ts";
import type { FakeBooking, FakeCalcom } from "./support/fake-calcom.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { connectedCompany, drainWithRetries, gid, startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { captureLogs, deliver, runWebhookJobs, scopedPath } from "./support/webhooks.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());
beforeEach(() => {
  h.fake.clearFaults();
});

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

/** A connected company whose connection (and so its first window) dates from `m` minutes ago. */
async function company(m = 120) {
  const c = await connectedCompany(h.fake);
  await db().calcomConnection.update({ where: { companyId: c.company.id }, data: { connectedAt: minutesAgo(m) } });
  return c;
}

async function bookingsOf(companyId: string) {
  const rows = await db().booking.findMany({ where: { companyId }, orderBy: { uid: "asc" } });
  return new Map(rows.map((b) => [b.uid, b]));
}

/** calsync's bookings equal Cal.com's: same uids, statuses, times, titles. */
async function expectEqualToCalcom(companyId: string, fakeBookings: FakeBooking[]) {
  const local = await bookingsOf(companyId);
  expect([...local.keys()].sort()).toEqual(fakeBookings.map((b) => b.uid).sort());
  for (const b of fakeBookings) {
    const l = local.get(b.uid)!;
    const status = b.status === "cancelled" && b.rescheduledToUid ? "RESCHEDULED" : b.status.toUpperCase();
    expect({ uid: l.uid, status: l.status, start: l.startTime.toISOString(), end: l.endTime.toISOString(), title: l.title }).toEqual({
      uid: b.uid,
      status,
      start: new Date(b.start).toISOString(),
      end: new Date(b.end).toISOString(),
      title: b.title,
    });
  }
}

const RECONCILE = `mutation($id: ID!, $since: DateTime) {
  reconcileBookings(companyId: $id, since: $since) {
    id status trigger since fetched recovered updated unchanged error correlationId traceId
  }
}`;

/** One reconcile through GraphQL and the worker; returns the finished run row. */
async function reconcileViaGraphql(companyId: string, since?: Date) {
  const res = await h.t.gql(RECONCILE, { id: gid("Company", companyId), since: since?.toISOString() ?? null });
  expect(res.body.errors).toBeUndefined();
  await drainWithRetries();
  return db().reconcileRun.findUniqueOrThrow({ where: { id: decodeGlobalID(res.body.data.reconcileBookings.id).id } });
}

/** The RECONCILE_CRON tick, as graphile-worker's cron adds it, then the jobs it fans out to. */
async function cronTick() {
  const item = maintenanceCronItems(h.t.env).find((i) => i.task === "schedule_reconciles")!;
  await enqueue("schedule_reconciles", { ...item.payload, _cron: { ts: new Date().toISOString(), backfilled: false } });
  await drainWithRetries();
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const res = await h.t.http().get("/metrics");
  const samples: Sample[] = [];
  for (const line of res.text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || line.startsWith("#")) continue;
    const l: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) l[k!] = v!;
    samples.push({ name: m[1]!, labels: l, value: Number(m[3]) });
  }
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

describe("missed webhooks recovered", () => {
  it("bookings created, rescheduled and cancelled while calsync was not listening are recovered by the cron, each counted once, with a trace", async () => {
    const { company: c, apiKey } = await company();
    // Before: two bookings calsync knows (imported by a first reconcile).
    const [a, b] = h.fake.addBookings(apiKey, [{ eventTypeId: 7001 }, { eventTypeId: 7001 }]);
    const first = await reconcileViaGraphql(c.id);
    expect(first).toMatchObject({ status: "SUCCEEDED", recovered: 2, updated: 0 });
    const watermark1 = (await db().calcomConnection.findUniqueOrThrow({ where: { companyId: c.id } })).bookingsReconciledUntil!;
    expect(watermark1.getTime()).toBe(first.until!.getTime());

    // calsync is not listening: a new booking, a reschedule, a cancellation; no webhook arrives.
    const [created] = h.fake.addBookings(apiKey, [{ eventTypeId: 7001 }]);
    const { created: moved } = h.fake.rescheduleBooking(apiKey, a!.uid, "2031-05-05T10:00:00.000Z");
    h.fake.cancelBooking(apiKey, b!.uid);
    const before = await metric("calsync_bookings_recovered_total", { company_id: c.id });
    spanExporter().reset();

    await cronTick();

    const run = await db().reconcileRun.findFirstOrThrow({ where: { companyId: c.id, trigger: "SCHEDULED" } });
    expect(run).toMatchObject({ status: "SUCCEEDED", fetched: 4, recovered: 2, updated: 2, unchanged: 0 });
    expect(run.since!.getTime()).toBeLessThan(watermark1.getTime()); // from the watermark (with overlap)
    await expectEqualToCalcom(c.id, h.fake.bookings(apiKey));
    const local = await bookingsOf(c.id);
    expect(local.get(moved.uid)).toMatchObject({ status: "ACCEPTED", rescheduledFromUid: a!.uid });
    expect(local.get(created!.uid)).toMatchObject({ status: "ACCEPTED", calcomBookingId: created!.id, calcomEventTypeId: 7001 });
    expect(local.get(b!.uid)!.cancelledAt).not.toBeNull();

    // Each change is an inbox event of its own source, processed, with the run's correlation id,
    // a trace, and an audit line; the metric counts each once, by change.
    const events = await db().webhookEvent.findMany({ where: { companyId: c.id, reconcileRunId: run.id }, orderBy: { receivedAt: "asc" } });
    expect(events.map((e) => e.triggerEvent).sort()).toEqual(["BOOKING_CANCELLED", "BOOKING_CANCELLED", "BOOKING_CREATED", "BOOKING_RESCHEDULED"]);
    for (const e of events) {
      expect(e).toMatchObject({ source: "RECONCILE", status: "PROCESSED", correlationId: run.correlationId });
      expect(e.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(spanExporter().getFinishedSpans().some((s) => s.spanContext().traceId === e.traceId && s.name === "reconcile apply booking")).toBe(true);
    }
    const audits = await db().auditEvent.findMany({ where: { companyId: c.id, action: "booking.recovered", correlationId: run.correlationId } });
    expect(audits.map((x) => (x.details as { change: string }).change).sort()).toEqual(["cancelled", "created", "created", "rescheduled"]);
    expect((await metric("calsync_bookings_recovered_total", { company_id: c.id })) - before).toBe(4);
    expect(await metric("calsync_bookings_recovered_total", { company_id: c.id, change: "rescheduled" })).toBe(1);

    // The next tick finds nothing new: nothing is counted twice.
    await cronTick();
    const again = await db().reconcileRun.findFirstOrThrow({ where: { companyId: c.id, trigger: "SCHEDULED", NOT: { id: run.id } } });
    expect(again).toMatchObject({ status: "SUCCEEDED", recovered: 0, updated: 0 });
    expect((await metric("calsync_bookings_recovered_total", { company_id: c.id })) - before).toBe(4);
    expect(await db().webhookEvent.count({ where: { companyId: c.id, source: "RECONCILE" } })).toBe(2 + 4);
  });

  it("shows on the company: lastReconcileRun, reconcileRuns, missedWebhooksRecovered and the recovered events' source", async () => {
    const { company: c, apiKey } = await company();
    h.fake.addBookings(apiKey, 3);
    await reconcileViaGraphql(c.id);
    const token = await createApiTokenFor(c.id);
    const res = await h.t.gql(
      `query($id: ID!) { company(id: $id) {
          lastReconcileRun { trigger status recovered updated fetched pages events(first: 10) { totalCount edges { node { source triggerEvent status reconcileRun { id } } } } }
          reconcileRuns(first: 5) { totalCount }
          missedWebhooksRecovered
          webhookEvents(first: 10) { edges { node { source } } }
          recoveredOnly: webhookEvents(first: 10, source: RECONCILE) { totalCount }
          deliveredOnly: webhookEvents(first: 10, source: WEBHOOK) { totalCount }
      } missedWebhooksRecovered }`,
      { id: gid("Company", c.id) },
      token,
    );
    expect(res.body.errors).toBeUndefined();
    const shown = res.body.data.company;
    expect(shown.lastReconcileRun).toMatchObject({ trigger: "MANUAL", status: "SUCCEEDED", recovered: 3, updated: 0, fetched: 3, pages: 1 });
    expect(shown.lastReconcileRun.events.totalCount).toBe(3);
    expect(shown.lastReconcileRun.events.edges[0].node).toMatchObject({ source: "RECONCILE", triggerEvent: "BOOKING_CREATED", status: "PROCESSED" });
    expect(shown.reconcileRuns.totalCount).toBe(1);
    expect(shown.missedWebhooksRecovered).toBe(3);
    expect(res.body.data.missedWebhooksRecovered).toBe(3); // a company token counts its own company only
    expect(shown.webhookEvents.edges.map((e: { node: { source: string } }) => e.node.source)).toEqual(["RECONCILE", "RECONCILE", "RECONCILE"]);
    expect([shown.recoveredOnly.totalCount, shown.deliveredOnly.totalCount]).toEqual([3, 0]);

    // Another company's token sees neither the runs nor the mutation.
    const other = await company();
    const otherToken = await createApiTokenFor(other.company.id);
    const forbidden = await h.t.gql(RECONCILE, { id: gid("Company", c.id), since: null }, otherToken);
    expect(forbidden.body.errors[0].extensions.code).toBe("FORBIDDEN");
  });

  it("reconcileBookings answers typed errors: not connected, since in the future, unknown company", async () => {
    const { company: c } = await company();
    const future = await h.t.gql(RECONCILE, { id: gid("Company", c.id), since: new Date(Date.now() + 86_400_000).toISOString() });
    expect(future.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "since" });
    await db().calcomConnection.delete({ where: { companyId: c.id } });
    const unconnected = await h.t.gql(RECONCILE, { id: gid("Company", c.id), since: null });
    expect(unconnected.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "companyId" });
    const unknown = await h.t.gql(RECONCILE, { id: gid("Company", randomUUID()), since: null });
    expect(unknown.body.errors[0].extensions.code).toBe("NOT_FOUND");
  });

  it("one run per company at a time: a second request gets the queued run", async () => {
    const { company: c } = await company();
    const one = await requestReconcile(c.id, "MANUAL");
    const two = await requestReconcile(c.id, "SCHEDULED");
    expect(two).toMatchObject({ created: false, run: { id: one.run.id } });
    await drainWithRetries();
    expect(await db().reconcileRun.findUniqueOrThrow({ where: { id: one.run.id } })).toMatchObject({ status: "SUCCEEDED" });
  });
});

describe("the processing rules hold", () => {
  it("a booking a newer webhook already changed stays as the webhook set it", async () => {
    const { company: c, apiKey } = await company();
    const secret = await createWebhookSecret(c.id);
    const old = minutesAgo(30);
    // Cal.com's listing still shows the state of 30 minutes ago (e.g. a replica behind).
    const [cancelled, moved] = h.fake.addBookings(apiKey, [
      { updatedAt: old.toISOString(), createdAt: old.toISOString() },
      { updatedAt: old.toISOString(), createdAt: old.toISOString(), start: "2031-01-01T09:00:00.000Z" },
    ]);
    // calsync received newer webhooks: one booking cancelled, the other at new times.
    const now = new Date().toISOString();
    for (const body of [
      bookingCancelled({ uid: cancelled!.uid, createdAt: now, startTime: cancelled!.start, endTime: cancelled!.end }),
      bookingCreated({ uid: moved!.uid, createdAt: now, startTime: "2031-02-02T09:00:00.000Z", endTime: "2031-02-02T09:45:00.000Z", title: "Set by the webhook" }),
    ]) {
      expect((await deliver(h.t, scopedPath(c.id), body, { secret })).status).toBe(202);
    }
    await runWebhookJobs();

    const run = await reconcileViaGraphql(c.id);
    expect(run).toMatchObject({ status: "SUCCEEDED", fetched: 2, recovered: 0, updated: 0, unchanged: 2 });
    const local = await bookingsOf(c.id);
    expect(local.get(cancelled!.uid)).toMatchObject({ status: "CANCELLED" });
    expect(local.get(moved!.uid)).toMatchObject({ status: "ACCEPTED", title: "Set by the webhook", startTime: new Date("2031-02-02T09:00:00.000Z") });
    expect(await db().webhookEvent.count({ where: { companyId: c.id, source: "RECONCILE" } })).toBe(0);
  });

  it("two companies with the same booking uid keep two bookings", async () => {
    const one = await company();
    const two = await company();
    const uid = `shared-${randomUUID()}`;
    h.fake.addBookings(one.apiKey, [{ uid, title: "Company one's" }]);
    h.fake.addBookings(two.apiKey, [{ uid, title: "Company two's", status: "cancelled" }]);
    expect(await reconcileViaGraphql(one.company.id)).toMatchObject({ recovered: 1 });
    expect(await reconcileViaGraphql(two.company.id)).toMatchObject({ recovered: 1 });
    const rows = await db().booking.findMany({ where: { uid }, orderBy: { title: "asc" } });
    expect(rows.map((r) => [r.companyId, r.status, r.title])).toEqual([
      [one.company.id, "ACCEPTED", "Company one's"],
      [two.company.id, "CANCELLED", "Company two's"],
    ]);
  });
});

describe("team connections", () => {
  it("lists the team's bookings (teamId), re-proving the key's admin rights first; a user no longer admin fails the run", async () => {
    const apiKey = `cal_test_${randomUUID().replaceAll("-", "")}`;
    h.fake.addApiKey(apiKey);
    const teamId = 4000 + Math.floor(Math.random() * 1000);
    h.fake.addTeam(teamId, [apiKey]);
    const c = await createCompany();
    await connectCompany(c.id, apiKey, teamId);
    await db().calcomConnection.update({ where: { companyId: c.id }, data: { connectedAt: minutesAgo(120) } });
    const team = h.fake.addBookings({ teamId }, 2);
    h.fake.addBookings(apiKey, 1); // the user's own booking, not the team's

    const run = await reconcileViaGraphql(c.id);
    expect(run).toMatchObject({ status: "SUCCEEDED", recovered: 2 });
    expect([...(await bookingsOf(c.id)).keys()].sort()).toEqual(team.map((b) => b.uid).sort());
    expect(h.fake.requestsTo("/v2/bookings").at(-1)!.query["teamId"]).toBe(String(teamId));

    h.fake.addTeamMember(teamId, apiKey, { role: "MEMBER", accepted: true });
    const refused = await reconcileViaGraphql(c.id);
    expect(refused).toMatchObject({ status: "FAILED", errorClass: "NotTeamAdmin", attempts: 1 });
    expect((await db().calcomConnection.findUniqueOrThrow({ where: { companyId: c.id } })).ownershipVerifiedAt).toBeNull();
    await db().calcomConnection.delete({ where: { companyId: c.id } }); // out of the other tests' --all
  });
});

describe("failures", () => {
  it("a failed reconcile leaves the watermark where it was; the next one recovers the rest, counting each change once", async () => {
    const { company: c, apiKey } = await company();
    const long = minutesAgo(60).toISOString();
    h.fake.addBookings(apiKey, [{ updatedAt: long }, { updatedAt: long }]);
    await reconcileViaGraphql(c.id);
    const watermark = (await db().calcomConnection.findUniqueOrThrow({ where: { companyId: c.id } })).bookingsReconciledUntil;
    expect(watermark).not.toBeNull();

    // Five missed bookings over three pages; Cal.com refuses the key on the second page.
    const missed = h.fake.addBookings(apiKey, 5).map((b, i) => h.fake.updateBooking(apiKey, b.uid, {}, new Date(Date.now() + i)));
    let calls = 0;
    const failing = clientFor(h.fake, apiKey, () => {
      if (++calls === 2) throw new Error("network gone");
    });
    const { run } = await requestReconcile(c.id, "MANUAL");
    const failed = await executeReconcile(run.id, { attempt: 1, maxAttempts: 1, client: failing, pageSize: 2 });
    expect(failed).toMatchObject({ status: "FAILED", recovered: 2, pages: 1 });
    expect(failed!.error).toContain("network gone");
    expect((await db().calcomConnection.findUniqueOrThrow({ where: { companyId: c.id } })).bookingsReconciledUntil).toEqual(watermark);

    const next = await reconcileViaGraphql(c.id);
    expect(next).toMatchObject({ status: "SUCCEEDED", recovered: 3, updated: 0 });
    expect(next.since!.getTime()).toBeLessThan(watermark!.getTime());
    await expectEqualToCalcom(c.id, h.fake.bookings(apiKey));
    expect(await db().webhookEvent.count({ where: { companyId: c.id, source: "RECONCILE" } })).toBe(2 + missed.length);
  });

  it("Cal.com errors are handled as the sync handles them: a bad key fails the run at once, an outage is retried", async () => {
    const { company: c, apiKey } = await company();
    h.fake.addBookings(apiKey, 1);
    h.fake.fault({ path: "/v2/bookings", status: 401, body: { status: "error", error: { code: "UnauthorizedException", message: "Invalid API Key" } } });
    const bad = await reconcileViaGraphql(c.id);
    expect(bad).toMatchObject({ status: "FAILED", errorClass: "InvalidCredentials", attempts: 1 });

    h.fake.fault({ path: "/v2/bookings", status: 503, times: 5 }); // one whole attempt of the client
    const flaky = await reconcileViaGraphql(c.id);
    expect(flaky).toMatchObject({ status: "SUCCEEDED", recovered: 1, attempts: 2 });
  });
});

/** A client on the fake with its own rate budget (`points` per `periodMs`) and millisecond backoff. */
function clientFor(fake: FakeCalcom, apiKey: string, before?: () => void, budget?: RateBudget, maxAttempts = 5) {
  const fingerprint = `test-${randomUUID()}`;
  return new CalcomClient({
    baseUrl: fake.url,
    apiKey,
    baseDelayMs: 5,
    maxDelayMs: 20,
    maxAttempts,
    acquire: async () => {
      before?.();
      await budget?.acquire(fingerprint);
    },
  });
}

describe("scale", () => {
  it("5,000 bookings over many pages stay under the rate budget and resume after a 429", async () => {
    const { company: c, apiKey } = await company(24 * 60);
    // 5,000 bookings changed over the last day, 40 of them in the same millisecond (ties).
    const start = Date.now() - 20 * 60 * 60_000;
    const seeds = Array.from({ length: 5000 }, (_, i) => {
      const at = new Date(start + (i >= 2000 && i < 2040 ? 2000 : i) * 10_000).toISOString();
      return { updatedAt: at, createdAt: at };
    });
    const listed = h.fake.addBookings(apiKey, seeds);
    // calsync already has 4,800 of them as Cal.com does; 200 were missed, spread over the day.
    const missed = new Set(listed.filter((_, i) => i % 25 === 7).map((b) => b.uid));
    const known = listed.filter((b) => !missed.has(b.uid));
    await db().booking.createMany({
      data: known.map((b) => ({
        companyId: c.id, uid: b.uid, status: "ACCEPTED", title: b.title, startTime: new Date(b.start), endTime: new Date(b.end), calcomBookingId: b.id,
      })),
    });

    h.fake.clearLog();
    const points = 20;
    const periodMs = 2000;
    const budget = new RateBudget({ points, periodMs, maxJitterMs: 5 });
    // The 20th request gets a 429 the client waits out (Cal.com's reset: 1 s), the 35th one a 429
    // that outlasts this attempt: the run is retried and resumes at its cursor.
    let calls = 0;
    const client = clientFor(h.fake, apiKey, () => {
      calls++;
      if (calls === 20) h.fake.fault({ path: "/v2/bookings", status: 429, resetSeconds: 1 });
    }, budget, 2);
    const { run } = await requestReconcile(c.id, "MANUAL");
    await executeReconcile(run.id, { attempt: 1, maxAttempts: 2, client, pageSize: 100 }); // resolves: no retry needed yet
    const after429 = await db().reconcileRun.findUniqueOrThrow({ where: { id: run.id } });
    expect(after429).toMatchObject({ status: "SUCCEEDED", fetched: 5000, recovered: 200, updated: 0, unchanged: 4800 });

    const requests = h.fake.requestsTo("/v2/bookings");
    expect(requests.filter((r) => r.status === 429)).toHaveLength(1);
    expect(requests.length).toBeGreaterThanOrEqual(51); // 50 pages of 100, overlapping
    expect(after429.pages).toBe(requests.length - 1);
    for (const r of requests) expect(r.headers["cal-api-version"]).toBe("2024-08-13");
    // Never more than the budget in any sliding period, and the fake never throttled on its own.
    expect(h.fake.requestsPerWindow(periodMs)).toBeLessThanOrEqual(points);
    await expectEqualToCalcom(c.id, h.fake.bookings(apiKey));
    expect(await db().webhookEvent.count({ where: { companyId: c.id, source: "RECONCILE" } })).toBe(200);
  }, 180_000);

  it("a 429 that outlasts an attempt: the run is retried and resumes at its cursor", async () => {
    const { company: c, apiKey } = await company(24 * 60);
    const start = Date.now() - 10 * 60 * 60_000;
    h.fake.addBookings(apiKey, Array.from({ length: 300 }, (_, i) => ({ updatedAt: new Date(start + i * 1000).toISOString() })));
    h.fake.clearLog();
    let calls = 0;
    const client = clientFor(h.fake, apiKey, () => {
      if (++calls === 3) h.fake.fault({ path: "/v2/bookings", status: 429, resetSeconds: 120 }); // longer than the client waits
    });
    const { run } = await requestReconcile(c.id, "MANUAL");
    await expect(executeReconcile(run.id, { attempt: 1, maxAttempts: 3, client, pageSize: 100 })).rejects.toThrow(/rate limited/);
    const paused = await db().reconcileRun.findUniqueOrThrow({ where: { id: run.id } });
    // Two pages of 100 that overlap by the booking at the cursor.
    expect(paused).toMatchObject({ status: "QUEUED", pages: 2, fetched: 199, recovered: 199, errorClass: "RateLimited" });
    expect(paused.cursor).not.toBeNull();

    h.fake.clearLog();
    const done = await executeReconcile(run.id, { attempt: 2, maxAttempts: 3, client });
    // Every booking recovered once; the one at the cursor was listed again (and found unchanged).
    expect(done).toMatchObject({ status: "SUCCEEDED", fetched: 301, recovered: 300, unchanged: 1 });
    // The second attempt started where the first stopped, not at the beginning.
    expect(h.fake.requestsTo("/v2/bookings")[0]!.query["afterUpdatedAt"]).toBe(paused.cursor!.toISOString());
    await expectEqualToCalcom(c.id, h.fake.bookings(apiKey));
  });
});

describe("calsync reconcile (CLI)", () => {
  it("reconciles one company or all, prints a summary or JSON, keeps attendee data out of logs", async () => {
    const { company: c, apiKey } = await company();
    const listed = h.fake.addBookings(apiKey, 3);
    const out: string[] = [];
    const logs = captureLogs();
    try {
      expect(await runReconcileCommand({ companyId: c.id, out: (s) => out.push(s), progress: false })).toBe(true);
    } finally {
      logs.stop();
    }
    expect(out.join("\n")).toMatch(/missed webhooks recovered: 3 \(3 new bookings, 0 changes\)/);
    const personal = listed.flatMap((b) => [(b["attendees"] as { email: string }[])[0]!.email, (b["attendees"] as { name: string }[])[0]!.name]);
    for (const line of logs.lines) for (const p of personal) expect(line).not.toContain(p);

    h.fake.cancelBooking(apiKey, listed[0]!.uid);
    const json: string[] = [];
    const ok = await runReconcileCommand({ all: true, output: { json: true, colour: false }, out: (s) => json.push(s), progress: false });
    const result = JSON.parse(json.join("")) as { companies: { companyId: string; status: string; updated: number }[] };
    expect(result.companies.filter((r) => r.status !== "SUCCEEDED")).toEqual([]);
    expect(ok).toBe(true);
    expect(result.companies.find((r) => r.companyId === c.id)).toMatchObject({ status: "SUCCEEDED", updated: 1 });
    expect((await bookingsOf(c.id)).get(listed[0]!.uid)).toMatchObject({ status: "CANCELLED" });
  });
});
