/**
 * Booking uids are unique per company (issue 12): two companies may hold the same uid, and an
 * unscoped webhook that names such a uid (and no usable event type) is ambiguous, so it stays
 * UNMATCHED rather than reaching either company (or failing).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../src/db/client.ts";
import { createBooking } from "./factories.ts";
import { bookingNoShowUpdated, serialize } from "./fixtures/webhooks.ts";
import { connectedCompany, startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { deliver, eventIdOf, runWebhookJobs } from "./support/webhooks.ts";

const SHARED_SECRET = "shared-unscoped-secret-per-company-01";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness({ env: { CALCOM_WEBHOOK_SECRET: SHARED_SECRET } });
});
afterAll(async () => h.close());

async function sendNoShow(uid: string) {
  const res = await deliver(h.t, "/webhooks/calcom", serialize(bookingNoShowUpdated({ uid, bookingId: 990_000 + Math.floor(Math.random() * 9999), createdAt: new Date().toISOString() })), {
    secret: SHARED_SECRET,
  });
  expect(res.status).toBe(202);
  await runWebhookJobs();
  return db().webhookEvent.findUniqueOrThrow({ where: { id: eventIdOf(res) } });
}

describe("booking uid unique per company", () => {
  it("the same uid in two companies is two bookings; an unscoped event naming it stays UNMATCHED, one naming a uid only one company holds reaches it", async () => {
    const one = await connectedCompany(h.fake);
    const two = await connectedCompany(h.fake);
    const shared = `bk_shared_${randomUUID().slice(0, 8)}`;
    await createBooking(one.company.id, { uid: shared });
    await createBooking(two.company.id, { uid: shared, status: "CANCELLED" });
    expect(await db().booking.count({ where: { uid: shared } })).toBe(2);

    const ambiguous = await sendNoShow(shared);
    expect(ambiguous).toMatchObject({ status: "UNMATCHED", companyId: null });

    const own = `bk_own_${randomUUID().slice(0, 8)}`;
    await createBooking(two.company.id, { uid: own });
    const matched = await sendNoShow(own);
    expect(matched).toMatchObject({ status: "PROCESSED", companyId: two.company.id });
  });
});
