/**
 * No webhook takeover across companies. Reproduces the attack of issue 11 against the Cal.com
 * stand-in configured like the Cal.com snapshot whose team event-type listing has no auth guard:
 * company A, with its own token, connects with company B's team id and syncs; B's next unscoped
 * delivery must still reach B (never A), and A never holds B's event types.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeGlobalID } from "@pothos/plugin-relay";
import { db } from "../src/db/client.ts";
import { createApiTokenFor, createCompany, createService, connectCompany } from "./factories.ts";
import { bookingCreated } from "./fixtures/webhooks.ts";
import { gid, startSyncHarness, SYNC_COMPANY, type SyncHarness } from "./support/sync.ts";
import { drainJobs } from "./support/worker.ts";
import { deliver } from "./support/webhooks.ts";

const SHARED_SECRET = "shared-operator-secret-0123456789";
const CONNECT = `mutation($input: ConnectCalcomInput!) { connectCalcom(input: $input) { id calcomConnected } }`;

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness({ env: { CALCOM_WEBHOOK_SECRET: SHARED_SECRET } });
  h.fake.unguardTeamEventTypes(); // any valid key may read any team's event types, as on Cal.com
});
afterAll(async () => h.close());

const newKey = () => {
  const key = `cal_test_${randomUUID().replaceAll("-", "")}`;
  h.fake.addApiKey(key);
  return key;
};
let nextTeam = 7000;
const webhookSecret = () => `whsec_${randomUUID()}`;

async function connect(companyId: string, apiKey: string, teamId: number | null, token?: string) {
  const input = { companyId: gid("Company", companyId), apiKey, webhookSecret: webhookSecret(), teamId };
  return h.t.gql(CONNECT, { input }, token);
}

async function unscoped(eventTypeId: number, uid = `bk_${randomUUID()}`) {
  const res = await deliver(h.t, "/webhooks/calcom", bookingCreated({ uid, eventTypeId }), { secret: SHARED_SECRET });
  expect(res.status).toBe(202);
  // The 202 id is the event's GraphQL id (a raw UUID before issue 8 landed): accept both.
  const id = res.body.id as string;
  return db().webhookEvent.findUniqueOrThrow({ where: { id: /^[0-9a-f-]{36}$/.test(id) ? id : decodeGlobalID(id).id } });
}

/** Company B: the team's real admin, connected and synced. */
async function victim() {
  const teamId = nextTeam++;
  const keyB = newKey();
  h.fake.addTeam(teamId, [keyB]);
  const [eventType] = h.fake.addEventTypes({ teamId }, 2);
  const b = await createCompany();
  expect((await connect(b.id, keyB, teamId)).body.errors).toBeUndefined();
  await h.t.gql(SYNC_COMPANY, { id: gid("Company", b.id) });
  await drainJobs();
  expect(await db().service.count({ where: { companyId: b.id } })).toBe(2);
  return { b, teamId, keyB, eventTypeId: eventType!.id };
}

describe("connectCalcom with a team id", () => {
  it("refuses a key whose user is not in the team, although the team's listing answers 200", async () => {
    const { b, teamId, eventTypeId } = await victim();
    const a = await createCompany();
    const tokenA = await createApiTokenFor(a.id);
    const keyA = newKey();
    // The old check passed: the unguarded listing answers any valid key.
    expect((await fetch(`${h.fake.url}/v2/teams/${teamId}/event-types`, { headers: { authorization: `Bearer ${keyA}` } })).status).toBe(200);

    const res = await connect(a.id, keyA, teamId, tokenA);
    expect(res.body.errors[0].extensions.code).toBe("CALCOM_NOT_TEAM_ADMIN");
    expect(res.body.data).toBeNull();
    expect(await db().calcomConnection.count({ where: { companyId: a.id } })).toBe(0);
    expect(h.fake.requestsTo(`/v2/teams/${teamId}/memberships`, "GET").some((r) => r.status === 403)).toBe(true);

    // B's next unscoped booking is B's.
    const event = await unscoped(eventTypeId);
    expect(event).toMatchObject({ companyId: b.id, status: "RECEIVED" });
  });

  it("accepts only an accepted ADMIN or OWNER: a MEMBER and a pending ADMIN are refused", async () => {
    const teamId = nextTeam++;
    const owner = newKey();
    const member = newKey();
    const invited = newKey();
    h.fake.addTeamMember(teamId, owner, { role: "OWNER" });
    h.fake.addTeamMember(teamId, member, { role: "MEMBER" });
    h.fake.addTeamMember(teamId, invited, { role: "ADMIN", accepted: false });
    // A pending ADMIN passes Cal.com's role guard (it ignores `accepted`), so the entry decides.
    for (const key of [member, invited]) {
      const c = await createCompany();
      expect((await connect(c.id, key, teamId)).body.errors[0].extensions.code).toBe("CALCOM_NOT_TEAM_ADMIN");
    }
    const c = await createCompany();
    expect((await connect(c.id, owner, teamId)).body.errors).toBeUndefined();
    const row = await db().calcomConnection.findUniqueOrThrow({ where: { companyId: c.id } });
    expect(row.ownershipVerifiedAt).not.toBeNull();
    expect(row.calcomUserId).toBe(h.fake.user(owner).id);
  });
});

describe("unscoped routing", () => {
  it("a connection made before the check (unproved) neither syncs the team nor takes its webhooks", async () => {
    const { b, teamId, eventTypeId } = await victim();
    // The takeover as it happened: A connected with B's team id and synced B's event types.
    const a = await createCompany();
    const keyA = newKey();
    await connectCompany(a.id, keyA, teamId, { verified: false });
    await createService(a.id, { calcomEventTypeId: eventTypeId, syncStatus: "SYNCED" });

    expect(await unscoped(eventTypeId)).toMatchObject({ companyId: b.id, status: "RECEIVED" });

    // A's next sync re-checks the team and fails without touching A's catalogue.
    const res = await h.t.gql(SYNC_COMPANY, { id: gid("Company", a.id) });
    await drainJobs();
    const run = await db().syncRun.findUniqueOrThrow({ where: { id: decodeGlobalID(res.body.data.syncCompany.id).id } });
    expect(run).toMatchObject({ status: "FAILED", errorClass: "NotTeamAdmin" });
    expect(await db().service.count({ where: { companyId: a.id } })).toBe(1);

    // Had B's event types been held by A alone, nobody gets them: UNMATCHED, with the reason.
    await db().service.deleteMany({ where: { companyId: b.id } });
    const orphan = await unscoped(eventTypeId);
    expect(orphan).toMatchObject({ companyId: null, status: "UNMATCHED" });
    expect(orphan.lastError).toContain("not proved");
  });

  it("two proved companies holding one event type: UNMATCHED, counted, visible to the admin only", async () => {
    const eventTypeId = 880_000 + Math.floor(Math.random() * 1000);
    const one = await createCompany();
    const two = await createCompany();
    for (const c of [one, two]) {
      await connectCompany(c.id);
      await createService(c.id, { calcomEventTypeId: eventTypeId, syncStatus: "SYNCED" });
    }
    const metric = async () => {
      const text = (await h.t.http().get("/metrics")).text;
      const line = text.split("\n").find((l) => l.startsWith("calsync_webhooks_unmatched") && l.includes('reason="ambiguous"'));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    const before = await metric();
    const event = await unscoped(eventTypeId);
    expect(event).toMatchObject({ companyId: null, status: "UNMATCHED" });
    expect(event.lastError).toContain("2 companies");
    expect(await metric()).toBe(before + 1);

    const q = `query($id: ID!) { webhookEvent(id: $id) { status lastError company { id } } }`;
    const id = gid("WebhookEvent", event.id);
    const admin = await h.t.gql(q, { id });
    expect(admin.body.data.webhookEvent).toMatchObject({ status: "UNMATCHED", company: null });
    expect(admin.body.data.webhookEvent.lastError).toContain("2 companies");
    const asOne = await h.t.gql(q, { id }, await createApiTokenFor(one.id));
    expect(asOne.body.data.webhookEvent).toBeNull();
    expect(asOne.body.errors[0].extensions.code).toBe("FORBIDDEN");
  });

  it("a user removed from the team loses the proof at the next sync, and with it the webhooks", async () => {
    const { b, teamId, keyB, eventTypeId } = await victim();
    expect(await unscoped(eventTypeId)).toMatchObject({ companyId: b.id });
    h.fake.removeTeamMember(teamId, keyB);
    const res = await h.t.gql(SYNC_COMPANY, { id: gid("Company", b.id) });
    await drainJobs();
    const run = await db().syncRun.findUniqueOrThrow({ where: { id: decodeGlobalID(res.body.data.syncCompany.id).id } });
    expect(run.errorClass).toBe("NotTeamAdmin");
    expect((await db().calcomConnection.findUniqueOrThrow({ where: { companyId: b.id } })).ownershipVerifiedAt).toBeNull();
    expect(await unscoped(eventTypeId)).toMatchObject({ companyId: null, status: "UNMATCHED" });
  });
});
