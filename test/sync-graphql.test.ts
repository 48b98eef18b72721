import { randomUUID } from "node:crypto";
import { secretContext } from "../src/secrets.ts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { db, pool } from "../src/db/client.ts";
import { secretBox } from "../src/calcom/for-company.ts";
import { activeSecrets } from "../src/domain/webhook-secrets.ts";
import { requestSync } from "../src/sync/runs.ts";
import type { JobHelpers } from "graphile-worker";
import { scheduleSyncsTask } from "../src/tasks/schedule_syncs.ts";
import { enqueue } from "../src/worker/enqueue.ts";
import { ADMIN_TOKEN } from "./support/app.ts";
import { createApiTokenFor, createCompany, createService } from "./factories.ts";
import { connectedCompany, gid, jobsLeft, runRow, startSyncHarness, SYNC_COMPANY, type SyncHarness } from "./support/sync.ts";
import { drainJobs } from "./support/worker.ts";

const TEAM = 4242;
let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());
beforeEach(() => {
  h.fake.clearFaults();
  h.fake.clearLog();
});

const CONNECT = `mutation($input: ConnectCalcomInput!) { connectCalcom(input: $input) { id calcomConnected } }`;
const SYNC_SERVICE = `mutation($id: ID!) { syncService(serviceId: $id) { id syncStatus syncError } }`;
const secret = () => `whsec_${randomUUID()}`;

describe("connectCalcom", () => {
  it("checks the key with Cal.com, then stores it and the webhook secret encrypted", async () => {
    const company = await createCompany();
    const apiKey = `cal_live_${randomUUID().replaceAll("-", "")}`;
    h.fake.addApiKey(apiKey);
    const webhookSecret = secret();

    const res = await h.t.gql(CONNECT, { input: { companyId: gid("Company", company.id), apiKey, webhookSecret } });

    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.connectCalcom).toEqual({ id: gid("Company", company.id), calcomConnected: true });
    expect(h.fake.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(["GET /v2/me 200"]);
    const connection = await db().calcomConnection.findUniqueOrThrow({ where: { companyId: company.id } });
    expect(connection.apiKeyEncrypted).not.toContain(apiKey);
    expect(secretBox().decrypt(connection.apiKeyEncrypted, secretContext("calcom_api_key", company.id))).toBe(apiKey);
    expect(connection.apiKeyFingerprint).toBe(secretBox().fingerprint(apiKey));
    expect(connection.teamId).toBeNull();
    expect(connection.lastVerifiedAt).not.toBeNull();
    expect(await activeSecrets(company.id)).toEqual([webhookSecret]);
    const audits = await db().auditEvent.findMany({ where: { companyId: company.id } });
    expect(audits.map((a) => a.action).sort()).toEqual(["calcom.connected", "webhook_secret.added"]);
    const dump = JSON.stringify(audits);
    expect(dump).not.toContain(apiKey);
    expect(dump).not.toContain(webhookSecret);

    // Reconnecting with the same secret adds no second one.
    const again = await h.t.gql(CONNECT, { input: { companyId: gid("Company", company.id), apiKey, webhookSecret } });
    expect(again.body.errors).toBeUndefined();
    expect(await db().webhookSecret.count({ where: { companyId: company.id } })).toBe(1);
  });

  it("answers CALCOM_INVALID_CREDENTIALS for a key Cal.com rejects, and stores nothing", async () => {
    const company = await createCompany();
    const res = await h.t.gql(CONNECT, {
      input: { companyId: gid("Company", company.id), apiKey: "cal_live_not_a_real_key", webhookSecret: secret() },
    });
    expect(res.body.errors[0].extensions.code).toBe("CALCOM_INVALID_CREDENTIALS");
    expect(res.body.errors[0].message).not.toContain("cal_live_not_a_real_key");
    expect(res.body.data?.connectCalcom ?? null).toBeNull();
    expect(await db().calcomConnection.count({ where: { companyId: company.id } })).toBe(0);
    expect(await db().webhookSecret.count({ where: { companyId: company.id } })).toBe(0);
  });

  it("answers CALCOM_UNAVAILABLE when Cal.com is down", async () => {
    const company = await createCompany();
    const apiKey = `cal_live_${randomUUID()}`;
    h.fake.addApiKey(apiKey);
    h.fake.fault({ status: 503, path: "/v2/me", times: Infinity });
    const res = await h.t.gql(CONNECT, { input: { companyId: gid("Company", company.id), apiKey, webhookSecret: secret() } });
    expect(res.body.errors[0].extensions.code).toBe("CALCOM_UNAVAILABLE");
    expect(await db().calcomConnection.count({ where: { companyId: company.id } })).toBe(0);
  });

  it("checks the key's team admin rights (memberships) and syncs the team's event types", async () => {
    const company = await createCompany();
    const admin = `cal_live_${randomUUID()}`;
    const outsider = `cal_live_${randomUUID()}`;
    h.fake.addApiKey(admin);
    h.fake.addApiKey(outsider);
    h.fake.addTeam(TEAM, [admin]);
    h.fake.addEventTypes({ teamId: TEAM }, 3);
    h.fake.addEventTypes(admin, 1); // personal: not the team's

    const refused = await h.t.gql(CONNECT, { input: { companyId: gid("Company", company.id), apiKey: outsider, webhookSecret: secret(), teamId: TEAM } });
    expect(refused.body.errors[0].extensions.code).toBe("CALCOM_NOT_TEAM_ADMIN");
    expect(refused.body.errors[0].message).toContain(`team ${TEAM}`);

    const ok = await h.t.gql(CONNECT, { input: { companyId: gid("Company", company.id), apiKey: admin, webhookSecret: secret(), teamId: TEAM } });
    expect(ok.body.errors).toBeUndefined();
    expect((await db().calcomConnection.findUniqueOrThrow({ where: { companyId: company.id } })).teamId).toBe(TEAM);

    await h.t.gql(SYNC_COMPANY, { id: gid("Company", company.id) });
    await drainJobs();
    const services = await db().service.findMany({ where: { companyId: company.id } });
    expect(services).toHaveLength(3);
    expect(h.fake.requestsTo(`/v2/teams/${TEAM}/event-types`).length).toBeGreaterThanOrEqual(2);
  });

  it("rejects bad input before calling Cal.com", async () => {
    const company = await createCompany();
    const res = await h.t.gql(CONNECT, { input: { companyId: gid("Company", company.id), apiKey: "cal_live_x", webhookSecret: "short" } });
    expect(res.body.errors[0].extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "webhookSecret" });
    expect(h.fake.requests).toHaveLength(0);
  });
});

describe("company scoping", () => {
  it("lets a company token act on its own company only", async () => {
    const own = await connectedCompany(h.fake, 1);
    const other = await connectedCompany(h.fake, 1);
    const token = await createApiTokenFor(own.company.id);
    const otherService = await createService(other.company.id, { calcomEventTypeId: other.eventTypes[0]!.id, syncStatus: "SYNCED" });

    const mine = await h.t.gql(SYNC_COMPANY, { id: gid("Company", own.company.id) }, token);
    expect(mine.body.errors).toBeUndefined();
    expect(mine.body.data.syncCompany.status).toBe("QUEUED");

    const theirs = await h.t.gql(SYNC_COMPANY, { id: gid("Company", other.company.id) }, token);
    expect(theirs.body.data?.syncCompany ?? null).toBeNull();
    expect(theirs.body.errors[0].extensions.code).toBe("FORBIDDEN");

    const service = await h.t.gql(SYNC_SERVICE, { id: gid("Service", otherService.id) }, token);
    expect(service.body.errors[0].extensions.code).toBe("FORBIDDEN");
    expect((await db().service.findUniqueOrThrow({ where: { id: otherService.id } })).syncStatus).toBe("SYNCED");

    const apiKey = `cal_live_${randomUUID()}`;
    h.fake.addApiKey(apiKey);
    const connect = await h.t.gql(CONNECT, { input: { companyId: gid("Company", other.company.id), apiKey, webhookSecret: secret() } }, token);
    expect(connect.body.errors[0].extensions.code).toBe("FORBIDDEN");
    expect(h.fake.requestsTo("/v2/me")).toHaveLength(0);

    const ownConnect = await h.t.gql(CONNECT, { input: { companyId: gid("Company", own.company.id), apiKey, webhookSecret: secret() } }, token);
    expect(ownConnect.body.errors).toBeUndefined();

    const runs = await h.t.gql(`query($id: ID!) { company(id: $id) { syncRuns { totalCount edges { node { trigger status } } } } }`, { id: gid("Company", own.company.id) }, token);
    expect(runs.body.data.company.syncRuns).toEqual({ totalCount: 1, edges: [{ node: { trigger: "MANUAL", status: "QUEUED" } }] });
    await drainJobs();
  });

  it("answers BAD_USER_INPUT for a company that is not connected", async () => {
    const company = await createCompany();
    const res = await h.t.gql(SYNC_COMPANY, { id: gid("Company", company.id) });
    expect(res.body.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    expect(await db().syncRun.count({ where: { companyId: company.id } })).toBe(0);
  });
});

describe("syncService and sync_service", () => {
  it("marks the service PENDING, then refreshes it from its event type", async () => {
    const { company, apiKey, eventTypes } = await connectedCompany(h.fake, 2);
    await h.t.gql(SYNC_COMPANY, { id: gid("Company", company.id) });
    await drainJobs();
    const et = eventTypes[0]!;
    const service = await db().service.findFirstOrThrow({ where: { companyId: company.id, calcomEventTypeId: et.id } });
    h.fake.updateEventType(apiKey, et.id, { title: "Fresh title" });

    const res = await h.t.gql(SYNC_SERVICE, { id: gid("Service", service.id) });

    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.syncService).toEqual({ id: gid("Service", service.id), syncStatus: "PENDING", syncError: null });
    const { rows } = await pool().query(
      `SELECT j.key, j.queue_name, p.payload FROM graphile_worker.jobs j JOIN graphile_worker._private_jobs p ON p.id = j.id
        WHERE j.task_identifier = 'sync_service'`,
    );
    expect(rows[0]).toMatchObject({
      key: `sync_service:${company.id}:${et.id}`,
      queue_name: `calcom:${company.id}`,
      payload: { companyId: company.id, eventTypeId: et.id },
    });
    await drainJobs();
    expect(await db().service.findUniqueOrThrow({ where: { id: service.id } })).toMatchObject({ name: "Fresh title", syncStatus: "SYNCED" });
    expect(h.fake.requestsTo(`/v2/event-types/${et.id}`, "GET")).toHaveLength(1);

    // Gone on Cal.com: a 404 makes it REMOTE_DELETED, never deleted.
    h.fake.removeEventType(apiKey, et.id);
    await h.t.gql(SYNC_SERVICE, { id: gid("Service", service.id) });
    await drainJobs();
    expect(await db().service.findUniqueOrThrow({ where: { id: service.id } })).toMatchObject({ syncStatus: "REMOTE_DELETED", name: "Fresh title" });
  });

  it("answers BAD_USER_INPUT for a service without a Cal.com event type", async () => {
    const { company } = await connectedCompany(h.fake, 0);
    const service = await createService(company.id);
    const res = await h.t.gql(SYNC_SERVICE, { id: gid("Service", service.id) });
    expect(res.body.errors[0].extensions.code).toBe("BAD_USER_INPUT");
    expect(await jobsLeft("sync_service")).toBe(0);
  });

  it("creates the service of an event type first seen in a booking (the webhook's payload)", async () => {
    const { company, apiKey } = await connectedCompany(h.fake, 0);
    const [et] = h.fake.addEventTypes(apiKey, [{ title: "Booked before synced" }]);
    await enqueue("sync_service", { companyId: company.id, eventTypeId: et!.id }, { jobKey: `sync_service:${company.id}:${et!.id}` });
    await drainJobs();
    expect(await db().service.findFirstOrThrow({ where: { companyId: company.id } })).toMatchObject({
      calcomEventTypeId: et!.id, name: "Booked before synced", syncStatus: "SYNCED",
    });
  });

  it("marks the service ERROR when the key no longer works", async () => {
    const { company, eventTypes } = await connectedCompany(h.fake, 1);
    const service = await createService(company.id, { calcomEventTypeId: eventTypes[0]!.id, syncStatus: "SYNCED" });
    await pool().query("UPDATE calcom_connections SET api_key_encrypted = $1 WHERE company_id = $2", [secretBox().encrypt("cal_live_revoked", secretContext("calcom_api_key", company.id)), company.id]);
    await h.t.gql(SYNC_SERVICE, { id: gid("Service", service.id) });
    await drainJobs();
    const row = await db().service.findUniqueOrThrow({ where: { id: service.id } });
    expect(row.syncStatus).toBe("ERROR");
    expect(row.syncError).toContain("401");
  });
});

describe("schedule_syncs", () => {
  it("queues a SCHEDULED sync for every connected company, keeping one already queued", async () => {
    const a = await connectedCompany(h.fake, 1);
    const b = await connectedCompany(h.fake, 1);
    const lonely = await createCompany();
    const { run: existing } = await requestSync(b.company.id, "MANUAL");

    await scheduleSyncsTask.run({ _cron: { ts: new Date().toISOString() } }, {} as JobHelpers);

    expect(await db().syncRun.findMany({ where: { companyId: a.company.id }, select: { trigger: true, status: true } })).toEqual([
      { trigger: "SCHEDULED", status: "QUEUED" },
    ]);
    expect(await db().syncRun.findMany({ where: { companyId: b.company.id }, select: { id: true, status: true } })).toEqual([
      { id: existing.id, status: "QUEUED" },
    ]);
    expect(await db().syncRun.count({ where: { companyId: lonely.id } })).toBe(0);
    await drainJobs();
    expect(await db().syncRun.count({ where: { companyId: { in: [a.company.id, b.company.id] }, status: "SUCCEEDED" } })).toBe(2);
  });
});

/** POSTs a subscription and yields each SSE `next` payload until `complete`. */
async function* sse(url: string, query: string, variables: Record<string, unknown>, token = ADMIN_TOKEN) {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of res.body!) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === "complete") return;
      if (event === "next" && data) yield JSON.parse(data) as { data: { syncRunProgress: Record<string, unknown> } | null; errors?: { extensions: { code: string } }[] };
    }
  }
}

describe("syncRunProgress over SSE", () => {
  const PROGRESS = `subscription($id: ID!) { syncRunProgress(id: $id) { id status progress fetched created company { id } } }`;
  let url: string;
  beforeAll(async () => {
    url = await h.t.app.listen({ port: 0, host: "127.0.0.1" });
  });

  it("streams the run from QUEUED to SUCCEEDED with progress rising to 1, then completes", async () => {
    const { company } = await connectedCompany(h.fake, 2_000);
    const { run } = await requestSync(company.id, "MANUAL");
    const events: Record<string, unknown>[] = [];
    let drained: Promise<void> | undefined;

    for await (const message of sse(url, PROGRESS, { id: gid("SyncRun", run.id) })) {
      expect(message.errors).toBeUndefined();
      events.push(message.data!.syncRunProgress);
      drained ??= drainJobs(); // start the worker once the stream has shown the queued run
    }
    await drained;

    expect(events[0]).toMatchObject({ id: gid("SyncRun", run.id), status: "QUEUED", progress: 0, company: { id: gid("Company", company.id) } });
    expect(events.at(-1)).toMatchObject({ status: "SUCCEEDED", progress: 1, fetched: 2_000, created: 2_000 });
    const progress = events.map((e) => e["progress"] as number);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(new Set(progress.filter((p) => p > 0 && p < 1)).size).toBeGreaterThanOrEqual(2); // chunks show up
  });

  it("completes at once for a finished run, and keeps other companies' runs to themselves", async () => {
    const { company } = await connectedCompany(h.fake, 1);
    const { run } = await requestSync(company.id, "MANUAL");
    await drainJobs();
    const done = [];
    for await (const message of sse(url, PROGRESS, { id: gid("SyncRun", run.id) })) done.push(message.data!.syncRunProgress);
    expect(done).toEqual([expect.objectContaining({ status: "SUCCEEDED", progress: 1 })]);

    const other = await createCompany();
    const token = await createApiTokenFor(other.id);
    const denied = [];
    for await (const message of sse(url, PROGRESS, { id: gid("SyncRun", run.id) }, token)) denied.push(message);
    expect(denied).toHaveLength(1);
    expect(denied[0]!.errors![0]!.extensions.code).toBe("FORBIDDEN");
  });

  it("shows the run ledger through the API after a failure", async () => {
    const { company } = await connectedCompany(h.fake, 1);
    await pool().query("UPDATE calcom_connections SET api_key_encrypted = $1 WHERE company_id = $2", [secretBox().encrypt("cal_live_revoked", secretContext("calcom_api_key", company.id)), company.id]);
    const queued = await h.t.gql(SYNC_COMPANY, { id: gid("Company", company.id) });
    await drainJobs();
    const res = await h.t.gql(`query($id: ID!) { syncRun(id: $id) { status error errorClass attempts progress durationMs correlationId traceId } }`, {
      id: queued.body.data.syncCompany.id,
    });
    expect(res.body.data.syncRun).toMatchObject({ status: "FAILED", errorClass: "InvalidCredentials", attempts: 1 });
    expect(res.body.data.syncRun.error).toContain("401");
    expect(res.body.data.syncRun.correlationId).toBe((await runRow(queued.body.data.syncCompany.id)).correlationId);
  });
});
