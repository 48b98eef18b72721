/**
 * Attendee names and e-mail addresses, secrets and signatures never reach log lines, span
 * attributes, span events or error details, whatever happens to a delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signBody } from "../src/calcom/signature.ts";
import { db, pool } from "../src/db/client.ts";
import { createCompany, createService, createWebhookSecret } from "./factories.ts";
import {
  PERSONAL_DATA,
  bookingCancelled,
  bookingCreated,
  bookingNoShowUpdated,
  bookingPaid,
  bookingRejected,
  bookingRequested,
  bookingRescheduled,
  meetingEndedFlat,
  meetingStartedFlat,
  ping,
  serialize,
  unknownTrigger,
} from "./fixtures/webhooks.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { captureLogs, deliver, makeJobsDue, runWebhookJobs, scopedPath } from "./support/webhooks.ts";

const SHARED_SECRET = "shared-privacy-secret-0123456789";
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ CALCOM_WEBHOOK_SECRET: SHARED_SECRET });
});
afterAll(async () => t.close());

describe("personal data and secrets stay out of logs and spans", () => {
  it("through accepted, duplicate, rejected, invalid, unmatched, processed and failing deliveries", async () => {
    const c = await createCompany();
    const secret = await createWebhookSecret(c.id, "privacy-company-secret-0123456789");
    await createService(c.id, { calcomEventTypeId: 1187 });
    spanExporter().reset();
    const logs = captureLogs();
    const signatures: string[] = [];
    try {
      const path = scopedPath(c.id);
      const bodies = [
        bookingCreated(),
        bookingRequested({ uid: "bk_priv_req" }),
        bookingRescheduled(),
        bookingCancelled(),
        bookingRejected({ uid: "bk_priv_rej" }),
        bookingPaid(),
        bookingNoShowUpdated(),
        meetingStartedFlat(),
        meetingEndedFlat(),
        ping(),
        unknownTrigger({ uid: "bk_priv_unknown" }),
      ];
      for (const body of bodies) {
        signatures.push(signBody(secret, serialize(body)));
        expect((await deliver(t, path, body, { secret })).status).toBe(202);
      }
      // duplicate, wrong signature, unscoped matched and unmatched
      expect((await deliver(t, path, bookingCreated(), { secret })).body.duplicate).toBe(true);
      expect((await deliver(t, path, bookingCreated(), { secret: "wrong-secret-0123456789abcdef" })).status).toBe(401);
      expect((await deliver(t, "/webhooks/calcom", bookingCreated({ uid: "bk_priv_shared" }), { secret: SHARED_SECRET })).status).toBe(202);
      expect((await deliver(t, "/api/calcom/webhook", bookingCreated({ uid: "bk_priv_x", eventTypeId: 99 }), { secret: SHARED_SECRET })).status).toBe(202);

      // invalid: a form-encoded template and an envelope whose fields are personal data
      const form = `name=${encodeURIComponent(PERSONAL_DATA.attendeeName)}&email=${encodeURIComponent(PERSONAL_DATA.attendeeEmail)}`;
      const formRes = await deliver(t, path, form, { secret, contentType: "application/x-www-form-urlencoded" });
      expect(formRes.status).toBe(422);
      const weird = JSON.stringify({ triggerEvent: { email: PERSONAL_DATA.attendeeEmail }, createdAt: PERSONAL_DATA.attendeeName, payload: { a: 1 } });
      const weirdRes = await deliver(t, path, weird, { secret });
      expect(weirdRes.status).toBe(422);
      for (const res of [formRes, weirdRes]) {
        for (const value of Object.values(PERSONAL_DATA)) expect(res.text).not.toContain(value);
      }

      await runWebhookJobs();

      // a failing attempt: the database refuses, and the error is logged and recorded on spans
      await pool().query(`
        CREATE OR REPLACE FUNCTION test_privacy_refuse() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
        CREATE TRIGGER test_privacy_refuse BEFORE INSERT OR UPDATE ON bookings
          FOR EACH ROW EXECUTE FUNCTION test_privacy_refuse();`);
      try {
        expect((await deliver(t, path, bookingCreated({ uid: "bk_priv_fail" }), { secret })).status).toBe(202);
        await makeJobsDue();
        await runWebhookJobs();
      } finally {
        await pool().query("DROP TRIGGER test_privacy_refuse ON bookings; DROP FUNCTION test_privacy_refuse()");
      }
      expect(await db().webhookEvent.count({ where: { companyId: c.id, lastError: { contains: "refused by the test" } } })).toBe(1);
    } finally {
      logs.stop();
    }

    // The capture worked and carries the correlation fields.
    const stored = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === "webhook stored");
    expect(stored.length).toBeGreaterThanOrEqual(10);
    expect(stored[0]).toMatchObject({ component: "webhook", trace_id: expect.any(String), correlation_id: expect.any(String) });
    expect(logs.lines.some((l) => l.includes("webhook signature rejected"))).toBe(true);
    expect(logs.lines.some((l) => l.includes("refused by the test"))).toBe(true);

    const spans = spanExporter().getFinishedSpans();
    expect(spans.length).toBeGreaterThan(20);
    const spanText = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })));
    const forbidden = [...Object.values(PERSONAL_DATA), secret, SHARED_SECRET, ...signatures];
    for (const value of forbidden) {
      expect(logs.lines.filter((l) => l.includes(value))).toEqual([]);
      expect(spanText.includes(value), `span data contains ${value}`).toBe(false);
    }
  });
});
