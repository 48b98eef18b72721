import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { secretContext } from "../src/secrets.ts";
import { db, pool } from "../src/db/client.ts";
import { tuneCalcomClients } from "../src/calcom/for-company.ts";
import { runSyncCommand } from "../src/sync/command.ts";
import { executeRun, requestSync } from "../src/sync/runs.ts";
import { createService, createServices, createSyncRun } from "./factories.ts";
import {
  connectedCompany, drainWithRetries, gid, jobsLeft, makeRetriesDue, runRow, startSyncHarness, syncViaGraphql,
  type SyncHarness,
} from "./support/sync.ts";
import { drainJobs } from "./support/worker.ts";

let h: SyncHarness;
beforeAll(async () => {
  // A hang must hit the timeout quickly; the fake answers within milliseconds otherwise.
  h = await startSyncHarness({ env: { CALCOM_TIMEOUT_MS: "400" } });
});
afterAll(async () => h.close());
beforeEach(() => {
  h.fake.clearFaults();
  h.fake.clearLog();
  tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20 });
});

/** Queues a sync through GraphQL, runs the worker, returns the finished run row. */
async function syncNow(companyId: string, force?: boolean) {
  const queued = await syncViaGraphql(h.t, companyId, force);
  await drainWithRetries();
  return runRow(queued.id);
}

function services(companyId: string) {
  return db().service.findMany({ where: { companyId }, orderBy: { calcomEventTypeId: "asc" } });
}

describe("first import", () => {
  it("turns every event type into a SYNCED service and records the run", async () => {
    const { company, apiKey } = await connectedCompany(h.fake);
    const seeded = h.fake.addEventTypes(apiKey, [
      {
        title: "Consultation",
        slug: "consultation",
        description: "First visit",
        lengthInMinutes: 45,
        price: 5000,
        currency: "eur",
        hidden: true,
        metadata: { room: "3" },
        locations: [{ type: "address", address: "Main St 1", public: true }],
      },
      ...Array.from({ length: 10 }, () => ({})),
    ]);
    // Orphaned (active, never on Cal.com), and unlike every event type of the listing: an orphan
    // that may be the same offer as an event type holds it back (test/sync-holds.test.ts).
    await createServices(company.id, 25, { name: "Gutschein (nur vor Ort)" });

    const run = await syncNow(company.id);

    expect(run).toMatchObject({
      status: "SUCCEEDED", trigger: "MANUAL", progress: 1, attempts: 1,
      fetched: 11, created: 11, updated: 0, unchanged: 0, remoteDeleted: 0, error: null, errorClass: null,
    });
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
    expect(run.startedAt).not.toBeNull();
    expect(run.finishedAt!.getTime()).toBeGreaterThanOrEqual(run.startedAt!.getTime());
    expect(run.correlationId).toBeTruthy();
    expect(run.traceId).toMatch(/^[0-9a-f]{32}$/);

    const rows = (await services(company.id)).filter((s) => s.calcomEventTypeId !== null);
    expect(rows).toHaveLength(11);
    expect(rows.every((s) => s.syncStatus === "SYNCED" && s.syncError === null && s.lastCalcomSync !== null)).toBe(true);
    const first = rows.find((s) => s.calcomEventTypeId === seeded[0]!.id)!;
    expect(first).toMatchObject({
      name: "Consultation", slug: "consultation", description: "First visit", durationMinutes: 45, priceMinor: 5000,
      currency: "eur", hidden: true, isActive: true, metadata: { room: "3" },
      locations: [{ type: "address", address: "Main St 1", public: true }],
    });
    // The list drops booking fields hidden on the booking page, and so do we.
    const slugs = (first.bookingFields as { slug: string }[]).map((f) => f.slug);
    expect(slugs).toEqual(["name", "email", "notes", "guests", "rescheduleReason"]);
    expect(first.contentHash).toMatch(/^[0-9a-f]{64}$/);

    // The company's coverage follows: 11 synced of 36 active.
    const res = await h.t.gql(`query($id: ID!) { company(id: $id) { coverage { activeServices syncedServices neverSyncedServices coveragePercent lastSyncedAt } lastSyncRun { status created } } }`, {
      id: gid("Company", company.id),
    });
    expect(res.body.data.company.coverage).toMatchObject({ activeServices: 36, syncedServices: 11, neverSyncedServices: 25, coveragePercent: 30.56 });
    expect(res.body.data.company.coverage.lastSyncedAt).not.toBeNull();
    expect(res.body.data.company.lastSyncRun).toEqual({ status: "SUCCEEDED", created: 11 });
    expect(await jobsLeft()).toBe(0);
  });
});

describe("re-syncs", () => {
  it("writes nothing when nothing changed", async () => {
    const { company } = await connectedCompany(h.fake, 11);
    await syncNow(company.id);
    const before = await services(company.id);

    const run = await syncNow(company.id);

    expect(run).toMatchObject({ status: "SUCCEEDED", fetched: 11, created: 0, updated: 0, unchanged: 11, remoteDeleted: 0 });
    const after = await services(company.id);
    expect(after.map((s) => [s.id, s.updatedAt.getTime(), s.lastCalcomSync?.getTime()])).toEqual(
      before.map((s) => [s.id, s.updatedAt.getTime(), s.lastCalcomSync?.getTime()]),
    );
  });

  it("applies changed event types and marks deleted ones REMOTE_DELETED without deleting them", async () => {
    const { company, apiKey, eventTypes } = await connectedCompany(h.fake, 11);
    await syncNow(company.id);
    const [a, b, gone] = eventTypes;
    h.fake.updateEventType(apiKey, a!.id, { title: "Renamed", lengthInMinutes: 90 });
    h.fake.updateEventType(apiKey, b!.id, { price: 1234, currency: "chf" });
    h.fake.removeEventType(apiKey, gone!.id);
    const [added] = h.fake.addEventTypes(apiKey, [{ title: "New one" }]);
    // A field we do not store changes nothing.
    h.fake.updateEventType(apiKey, eventTypes[3]!.id, { minimumBookingNotice: 999 });

    const run = await syncNow(company.id);

    expect(run).toMatchObject({ status: "SUCCEEDED", fetched: 11, created: 1, updated: 2, unchanged: 8, remoteDeleted: 1 });
    const rows = await services(company.id);
    expect(rows).toHaveLength(12);
    const byEt = new Map(rows.map((s) => [s.calcomEventTypeId, s]));
    expect(byEt.get(a!.id)).toMatchObject({ name: "Renamed", durationMinutes: 90, syncStatus: "SYNCED" });
    expect(byEt.get(b!.id)).toMatchObject({ priceMinor: 1234, currency: "chf", syncStatus: "SYNCED" });
    expect(byEt.get(gone!.id)).toMatchObject({ syncStatus: "REMOTE_DELETED", name: gone!.title });
    expect(byEt.get(added!.id)).toMatchObject({ name: "New one", syncStatus: "SYNCED" });

    // It comes back: SYNCED again. Services never linked to Cal.com are not touched.
    const orphan = await createService(company.id);
    h.fake.addEventTypes(apiKey, [{ ...gone!, id: gone!.id }]);
    const again = await syncNow(company.id);
    expect(again).toMatchObject({ created: 0, updated: 1, unchanged: 11, remoteDeleted: 0 });
    expect((await db().service.findFirstOrThrow({ where: { companyId: company.id, calcomEventTypeId: gone!.id } })).syncStatus).toBe("SYNCED");
    expect(await db().service.findUniqueOrThrow({ where: { id: orphan.id } })).toMatchObject({ syncStatus: "NEVER_SYNCED", updatedAt: orphan.updatedAt });
  });

  it("refuses to mark more than half of the linked services REMOTE_DELETED, changing nothing, unless forced", async () => {
    const { company, apiKey, eventTypes } = await connectedCompany(h.fake, 11);
    await syncNow(company.id);
    const before = await services(company.id);
    for (const et of eventTypes.slice(0, 6)) h.fake.removeEventType(apiKey, et.id);
    h.fake.updateEventType(apiKey, eventTypes[10]!.id, { title: "Would be applied" });

    const refused = await syncNow(company.id);

    expect(refused).toMatchObject({
      status: "FAILED", errorClass: "TooManyRemoteDeletions", attempts: 1, created: 0, updated: 0, unchanged: 0, remoteDeleted: 0,
    });
    expect(refused.error).toContain("refused to mark 6 of 11");
    expect(refused.finishedAt).not.toBeNull();
    expect(await services(company.id)).toEqual(before); // nothing changed, the rename included
    expect(await jobsLeft()).toBe(0); // not retried: the listing would say the same

    const forced = await syncNow(company.id, true);
    expect(forced).toMatchObject({ status: "SUCCEEDED", force: true, updated: 1, unchanged: 4, remoteDeleted: 6 });
    expect(await db().service.count({ where: { companyId: company.id, syncStatus: "REMOTE_DELETED" } })).toBe(6);
    expect(await db().service.count({ where: { companyId: company.id } })).toBe(11);
  });

  it("treats an empty listing like any other: the valve holds", async () => {
    const { company, apiKey } = await connectedCompany(h.fake, 3);
    await syncNow(company.id);
    h.fake.setEventTypes(apiKey, 0);
    const run = await syncNow(company.id);
    expect(run).toMatchObject({ status: "FAILED", errorClass: "TooManyRemoteDeletions", fetched: 0 });
    expect(await db().service.count({ where: { companyId: company.id, syncStatus: "SYNCED" } })).toBe(3);
  });
});

describe("faults", () => {
  it("a chunk PostgreSQL refuses mid-apply fails the run and leaves the catalogue as it was", async () => {
    const { company, apiKey, eventTypes } = await connectedCompany(h.fake, 4);
    expect((await syncNow(company.id)).status).toBe("SUCCEEDED");
    const before = await services(company.id);
    for (const et of eventTypes) h.fake.updateEventType(apiKey, et.id, { title: `${et.title} renamed` });
    h.fake.addEventTypes(apiKey, [{}, {}, { title: "Refused by PostgreSQL" }, {}, {}, {}]);
    // The 7th of 10 rows: chunks of 2 put it in the 4th statement, after three have been applied
    // inside the transaction and while the next one is already queued behind it.
    await pool().query(`
      CREATE FUNCTION refuse_service() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.name = 'Refused by PostgreSQL' THEN RAISE EXCEPTION 'refused by a test trigger'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER refuse_service BEFORE INSERT OR UPDATE ON services FOR EACH ROW EXECUTE FUNCTION refuse_service();`);
    try {
      const { run } = await requestSync(company.id, "MANUAL");
      const outcome = await executeRun(run.id, { attempt: 1, maxAttempts: 1, chunkSize: 2 });
      expect(outcome?.run).toMatchObject({ status: "FAILED", created: 0, updated: 0, error: expect.stringContaining("refused by a test trigger") });
    } finally {
      await pool().query("DROP TRIGGER refuse_service ON services; DROP FUNCTION refuse_service();");
    }
    expect(await services(company.id)).toEqual(before);
    await drainJobs(); // the queued job finds its run finished and does nothing
  });

  it("waits the reset time Cal.com gives on a 429, then succeeds", async () => {
    const { company } = await connectedCompany(h.fake, 2);
    h.fake.fault({ status: 429, resetSeconds: 1, path: "/v2/event-types" });

    const run = await syncNow(company.id);

    expect(run).toMatchObject({ status: "SUCCEEDED", created: 2, attempts: 1 });
    const listings = h.fake.requestsTo("/v2/event-types", "GET");
    expect(listings.map((r) => r.status)).toEqual([429, 200]);
    expect(listings[1]!.time - listings[0]!.time).toBeGreaterThanOrEqual(1000);
  });

  it("retries 5xx and succeeds", async () => {
    const { company } = await connectedCompany(h.fake, 2);
    h.fake.fault({ status: 500, path: "/v2/event-types", times: 2 });

    const run = await syncNow(company.id);

    expect(run).toMatchObject({ status: "SUCCEEDED", created: 2, attempts: 1 });
    expect(h.fake.requestsTo("/v2/event-types").map((r) => r.status)).toEqual([500, 500, 200]);
  });

  it("gives a FAILED run with every job attempt recorded when Cal.com stays down", async () => {
    tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 2 });
    const { company, apiKey } = await connectedCompany(h.fake, 2);
    h.fake.fault({ status: 503, path: "/v2/event-types", times: Infinity });
    const { run } = await requestSync(company.id, "MANUAL", { maxAttempts: 3 });

    await drainJobs();
    const between = await db().syncRun.findUniqueOrThrow({ where: { id: run.id } });
    expect(between).toMatchObject({ status: "QUEUED", attempts: 1, errorClass: "Unavailable", progress: 0 });
    expect(between.error).toContain("503");

    await makeRetriesDue();
    await drainJobs();
    await makeRetriesDue();
    await drainJobs();

    const failed = await db().syncRun.findUniqueOrThrow({ where: { id: run.id } });
    expect(failed).toMatchObject({ status: "FAILED", attempts: 3, errorClass: "Unavailable" });
    expect(failed.error).toMatch(/answered 503 on all 2 attempt/);
    expect(failed.error).not.toContain(apiKey);
    expect(failed.finishedAt).not.toBeNull();
    expect(h.fake.requestsTo("/v2/event-types")).toHaveLength(6); // 3 jobs × 2 client attempts
    expect(await jobsLeft("sync_company")).toBe(0); // the last attempt ends the job; the ledger keeps the failure
  });

  it("fails at once, without retries, when the key was revoked", async () => {
    const { company, apiKey } = await connectedCompany(h.fake, 2);
    await syncNow(company.id);
    await pool().query("UPDATE calcom_connections SET api_key_encrypted = $1 WHERE company_id = $2", [
      (await import("../src/calcom/for-company.ts")).secretBox().encrypt(`${apiKey}_revoked`, secretContext("calcom_api_key", company.id)),
      company.id,
    ]);

    const run = await syncNow(company.id);

    expect(run).toMatchObject({ status: "FAILED", errorClass: "InvalidCredentials", attempts: 1 });
    expect(run.error).toContain("401");
    expect(h.fake.requestsTo("/v2/event-types").filter((r) => r.status === 401)).toHaveLength(1);
    expect(await db().service.count({ where: { companyId: company.id, syncStatus: "SYNCED" } })).toBe(2);
  });

  it("turns a hang into a timeout (CALCOM_TIMEOUT_MS), then a FAILED run", async () => {
    tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 2 });
    const { company } = await connectedCompany(h.fake, 2);
    h.fake.fault({ hang: true, path: "/v2/event-types", times: Infinity });
    const { run } = await requestSync(company.id, "MANUAL", { maxAttempts: 1 });

    const started = performance.now();
    await drainJobs();
    const elapsed = performance.now() - started;

    const failed = await db().syncRun.findUniqueOrThrow({ where: { id: run.id } });
    expect(failed).toMatchObject({ status: "FAILED", errorClass: "Unavailable", attempts: 1 });
    expect(failed.error).toContain("timed out after 400 ms");
    expect(elapsed).toBeGreaterThanOrEqual(800);
    expect(elapsed).toBeLessThan(5000);
  });

  it("records a malformed answer as BadResponse", async () => {
    const { company } = await connectedCompany(h.fake, 2);
    h.fake.fault({ badJson: true, path: "/v2/event-types" });
    const run = await syncNow(company.id);
    expect(run).toMatchObject({ status: "FAILED", errorClass: "BadResponse", attempts: 1 });
  });
});

describe("one run per company", () => {
  it("gives two simultaneous syncCompany calls the same run and one job", async () => {
    const { company } = await connectedCompany(h.fake, 3);

    const [a, b] = await Promise.all([syncViaGraphql(h.t, company.id), syncViaGraphql(h.t, company.id)]);

    expect(a.id).toBe(b.id);
    expect(a.status).toBe("QUEUED");
    expect(await db().syncRun.count({ where: { companyId: company.id } })).toBe(1);
    expect(await jobsLeft("sync_company")).toBe(1);
    const { rows } = await pool().query("SELECT key, queue_name FROM graphile_worker.jobs WHERE task_identifier = 'sync_company'");
    expect(rows).toEqual([{ key: `sync_company:${company.id}`, queue_name: `calcom:${company.id}` }]);

    await drainWithRetries();
    expect((await runRow(a.id)).status).toBe("SUCCEEDED");
    const next = await syncViaGraphql(h.t, company.id);
    expect(next.id).not.toBe(a.id); // a finished run does not block the next
  });

  it("holds under many concurrent requests from both paths", async () => {
    const { company } = await connectedCompany(h.fake, 1);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? requestSync(company.id, "SCHEDULED") : requestSync(company.id, "MANUAL"))),
    );
    expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    await drainWithRetries();
  });
});

describe("stuck runs", () => {
  it("replaces a run whose worker vanished (no job, no news for an hour) instead of blocking the company", async () => {
    const { company } = await connectedCompany(h.fake, 1);
    const stale = await createSyncRun(company.id, {
      status: "RUNNING", queuedAt: new Date(Date.now() - 2 * 3600_000), startedAt: new Date(Date.now() - 2 * 3600_000),
    });

    const fresh = await syncViaGraphql(h.t, company.id);

    expect(fresh.id).not.toBe(gid("SyncRun", stale.id));
    expect(await db().syncRun.findUniqueOrThrow({ where: { id: stale.id } })).toMatchObject({ status: "FAILED", errorClass: "Abandoned" });
    await drainWithRetries();
    expect((await runRow(fresh.id)).status).toBe("SUCCEEDED");
  });

  it("also replaces a stale run whose job used up its attempts (the dead job stays in the queue table)", async () => {
    const { company } = await connectedCompany(h.fake, 1);
    const stale = await createSyncRun(company.id, {
      status: "QUEUED", queuedAt: new Date(Date.now() - 2 * 3600_000),
    });
    await pool().query(
      "SELECT graphile_worker.add_job('sync_company', json_build_object('runId', $1::text), job_key => $2, max_attempts => 1)",
      [stale.id, `sync_company:${company.id}`],
    );
    await pool().query("UPDATE graphile_worker._private_jobs SET attempts = max_attempts, last_error = 'died'");

    const fresh = await syncViaGraphql(h.t, company.id);

    expect(fresh.id).not.toBe(gid("SyncRun", stale.id));
    expect(await db().syncRun.findUniqueOrThrow({ where: { id: stale.id } })).toMatchObject({ status: "FAILED", errorClass: "Abandoned" });
  });

  it("keeps a recent run, and the CLI reports the company busy instead of starting a second", async () => {
    const { company } = await connectedCompany(h.fake, 1);
    const { run } = await requestSync(company.id, "SCHEDULED");
    const lines: string[] = [];

    const ok = await runSyncCommand({ companyId: company.id, out: (l) => lines.push(l) });

    expect(ok).toBe(false);
    expect(lines.join("\n")).toMatch(/BUSY/);
    expect(lines.join("\n")).toContain(`a sync is already queued (run ${run.id})`);
    expect(await db().syncRun.count({ where: { companyId: company.id } })).toBe(1);
    await drainWithRetries();
  });

  it("runs in-process from the CLI module, as a MANUAL run", async () => {
    const { company } = await connectedCompany(h.fake, 3);
    const lines: string[] = [];
    expect(await runSyncCommand({ companyId: company.id, out: (l) => lines.push(l) })).toBe(true);
    expect(lines[0]).toMatch(/SUCCEEDED/);
    expect(await db().syncRun.findFirstOrThrow({ where: { companyId: company.id } })).toMatchObject({ trigger: "MANUAL", status: "SUCCEEDED", created: 3 });
  });
});
