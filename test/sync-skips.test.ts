/**
 * One bad event type does not fail a sync (issue 8): each event type of the listing is validated
 * on its own; what cannot be stored is skipped with its reason on the run (GraphQL `SyncRun.skipped`
 * and `skips`) and in a metric, and the rest is synced. Through GraphQL, against the fake Cal.com.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectedCompany, drainWithRetries, gid, startSyncHarness, syncViaGraphql, type SyncHarness } from "./support/sync.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());

const RUN = `query($id: ID!) {
  syncRun(id: $id) { status fetched created updated unchanged remoteDeleted skipped skips { calcomEventTypeId title reason } error }
}`;

async function runOf(id: string) {
  const res = await h.t.gql(RUN, { id });
  expect(res.body.errors).toBeUndefined();
  return res.body.data.syncRun as {
    status: string;
    created: number;
    remoteDeleted: number;
    skipped: number;
    skips: { calcomEventTypeId: number | null; title: string | null; reason: string }[];
    error: string | null;
  };
}

async function services(companyId: string) {
  const res = await h.t.gql(`query($c: ID!) { company(id: $c) { services(first: 50) { totalCount edges { node { calcomEventTypeId syncStatus } } } } }`, {
    c: gid("Company", companyId),
  });
  return res.body.data.company.services as { totalCount: number; edges: { node: { calcomEventTypeId: number; syncStatus: string } }[] };
}

describe("a listing with broken event types", () => {
  it("one event type with a length beyond a 32-bit integer: the other ten are synced, the skip is on the run", async () => {
    const { company, apiKey } = await connectedCompany(h.fake, 10);
    const [broken] = h.fake.addEventTypes(apiKey, [{ title: "Far too long", lengthInMinutes: 2 ** 40 }]);
    const run = await syncViaGraphql(h.t, company.id);
    await drainWithRetries();
    expect(await runOf(run.id)).toMatchObject({
      status: "SUCCEEDED",
      created: 10,
      skipped: 1,
      error: null,
      skips: [{ calcomEventTypeId: broken!.id, title: "Far too long", reason: expect.stringContaining("lengthInMinutes") }],
    });
    expect((await services(company.id)).totalCount).toBe(10);

    const metrics = await h.t.http().get("/metrics");
    expect(metrics.text).toMatch(/calsync_sync_event_types_skipped(_total)?\{[^}]*reason="out_of_range"[^}]*\} [1-9]/);
  });

  it("malformed, out-of-range and unstorable ones are each skipped with a reason; a service whose event type broke is not REMOTE_DELETED", async () => {
    const { company, apiKey, eventTypes } = await connectedCompany(h.fake, 10);
    const first = await syncViaGraphql(h.t, company.id);
    await drainWithRetries();
    expect(await runOf(first.id)).toMatchObject({ status: "SUCCEEDED", created: 10, skipped: 0, skips: [] });

    // One synced event type turns malformed; three new ones cannot be stored.
    h.fake.updateEventType(apiKey, eventTypes[0]!.id, { title: null as unknown as string });
    const added = h.fake.addEventTypes(apiKey, [
      { title: "Priceless", price: 2 ** 33 },
      { title: "Nul\u0000title" },
      { title: "Broken metadata", metadata: { note: "a\u0000b" } },
    ]);
    const second = await syncViaGraphql(h.t, company.id);
    await drainWithRetries();
    const run = await runOf(second.id);
    expect(run).toMatchObject({ status: "SUCCEEDED", created: 0, remoteDeleted: 0, skipped: 4, error: null });
    const reasons = Object.fromEntries(run.skips.map((k) => [k.calcomEventTypeId, k.reason]));
    expect(reasons[eventTypes[0]!.id]).toContain("title");
    expect(reasons[added[0]!.id]).toContain("price");
    expect(reasons[added[1]!.id]).toContain("NUL");
    expect(reasons[added[2]!.id]).toContain("metadata");
    // No value of the event type leaks into a reason.
    expect(run.skips.map((k) => k.reason).join(" ")).not.toContain("a\u0000b");

    const after = await services(company.id);
    expect(after.totalCount).toBe(10);
    expect(after.edges.find((e) => e.node.calcomEventTypeId === eventTypes[0]!.id)?.node.syncStatus).toBe("SYNCED");
  });
});
