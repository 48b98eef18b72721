/** Signed Cal.com deliveries for the load generator, and the company they are addressed to. */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { signBody } from "../../src/calcom/signature.ts";
import { db } from "../../src/db/client.ts";
import { bookingCreated, DEFAULTS, serialize } from "../../test/fixtures/webhooks.ts";
import { createCompany, createWebhookSecret } from "../../test/factories.ts";
import type { Shot } from "./load.ts";

export interface WebhookTarget {
  companyId: string;
  secret: string;
  path: string;
}

/**
 * A company with a webhook secret and the service of the fixtures' event type, so processing a
 * BOOKING_CREATED never needs Cal.com (no `sync_service` job). Needs `useDatabase` first.
 */
export async function webhookTarget(): Promise<WebhookTarget> {
  const company = await createCompany({ name: "Bench Clinic", slug: "bench-clinic" });
  const secret = await createWebhookSecret(company.id, "whsec_bench_0123456789abcdef");
  await db().service.create({
    data: {
      companyId: company.id, name: "30 Min Meeting", slug: "30min", durationMinutes: 30,
      calcomEventTypeId: DEFAULTS.eventTypeId, syncStatus: "SYNCED", lastCalcomSync: new Date(),
    },
  });
  return { companyId: company.id, secret, path: `/webhooks/calcom/${encodeURIComponent(encodeGlobalID("Company", company.id))}` };
}

/** `n` distinct signed BOOKING_CREATED deliveries (distinct uid and booking id per `label` and index). */
export function bookingShots(target: WebhookTarget, label: string, n: number, base = 0): Shot[] {
  return Array.from({ length: n }, (_, i) => {
    const k = base + i;
    const body = Buffer.from(serialize(bookingCreated({ uid: `bk_${label}_${k}`, bookingId: 100_000 + k })));
    return {
      path: target.path,
      headers: { "content-type": "application/json", "x-cal-signature-256": signBody(target.secret, body) },
      body,
    };
  });
}
