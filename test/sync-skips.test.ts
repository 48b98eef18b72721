/**
 * One bad event type does not fail a sync (issue 8): each event type of the listing is validated
 * on its own; what cannot be stored is skipped with its reason on the run (GraphQL `SyncRun.skipped`
 * and `skips`) and in a metric, and the rest is synced. Through GraphQL, against the fake Cal.com.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkEventTypes, eventTypeSchema } from "../src/calcom/event-types.ts";
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

describe("which listing items count as event types", () => {
  // checkEventTypes validates with a strip-mode copy of eventTypeSchema (it skips copying the
  // fields calsync does not read); it must accept, reject and explain exactly as the schema does.
  it("exactly the items eventTypeSchema accepts, with the same reasons", () => {
    const valid = { id: 7, title: "Intro", slug: "intro", lengthInMinutes: 30, description: "", hidden: false, price: 0, currency: "usd",
      locations: [{ type: "integration", integration: "cal-video" }], bookingFields: [{ type: "name", slug: "name", required: true }], metadata: {}, ownerId: 1, extra: { a: 1 } };
    const keys = [...Object.keys(valid), "teamId", "schedulingType"];
    const mutation = fc.record({
      key: fc.constantFrom(...keys),
      value: fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.array(fc.dictionary(fc.constantFrom("type", "slug", "x"), fc.jsonValue()), { maxLength: 3 })),
      nested: fc.option(fc.record({ field: fc.constantFrom("locations", "bookingFields"), key: fc.constantFrom("type", "slug", "x"), value: fc.jsonValue() }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 3 }), fc.oneof(fc.constant(null), fc.jsonValue()), (mutations, other) => {
        const item: Record<string, unknown> = structuredClone(valid);
        for (const m of mutations) {
          if (m.value === undefined) delete item[m.key];
          else item[m.key] = m.value;
          if (m.nested && Array.isArray(item[m.nested.field]) && typeof (item[m.nested.field] as unknown[])[0] === "object") {
            ((item[m.nested.field] as Record<string, unknown>[])[0] ?? {})[m.nested.key] = m.nested.value;
          }
        }
        for (const candidate of [item, other]) {
          const schema = eventTypeSchema.safeParse(candidate);
          const checked = checkEventTypes([candidate]);
          const reason = schema.success ? undefined : schema.error.issues.map((i) => `${i.path.join(".") || "(item)"}: ${i.message}`).join("; ").slice(0, 500);
          expect({ accepted: checked.eventTypes, reason: checked.invalid[0]?.reason }).toEqual({ accepted: schema.success ? [candidate] : [], reason });
          expect(checked.eventTypes[0] ?? candidate).toBe(candidate); // the item itself, never a copy
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
