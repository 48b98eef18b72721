/**
 * One processing job applies several queued events of its company in one transaction (issue 13),
 * and each event is still processed in a span of its own trace (CONTRACT section 5).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpanKind } from "@opentelemetry/api";
import { db } from "../src/db/client.ts";
import { processWebhookEvent } from "../src/webhooks/process.ts";
import { startTestApp, type TestApp } from "./support/app.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { captureLogs, deliver, jobs, runWebhookJobs, scopedPath } from "./support/webhooks.ts";
import { bookingCancelled, bookingCreated } from "./fixtures/webhooks.ts";
import { createCompany, createService, createWebhookSecret } from "./factories.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

describe("batched processing", () => {
  it("the first job applies the company's queued events in one go, each in its own trace; the other jobs find them done", async () => {
    const company = await createCompany();
    const secret = await createWebhookSecret(company.id);
    await createService(company.id, { calcomEventTypeId: 1187, syncStatus: "SYNCED" });
    const sent = [];
    for (let i = 0; i < 5; i++) {
      const res = await deliver(t, scopedPath(company.id), bookingCreated({ uid: `batch-${i}`, createdAt: `2025-03-14T09:0${i}:00.000Z` }), {
        secret,
        headers: { "x-request-id": `corr-batch-${i}` },
      });
      expect(res.status).toBe(202);
      sent.push({ id: res.body.id as string, traceId: res.headers["x-trace-id"] as string });
    }
    // The same booking cancelled later, in the same batch: applied after its creation.
    const cancel = await deliver(t, scopedPath(company.id), bookingCancelled({ uid: "batch-0", createdAt: "2025-03-14T10:00:00.000Z" }), { secret });
    const rows = await db().webhookEvent.findMany({ where: { companyId: company.id }, orderBy: { receivedAt: "asc" } });
    expect(rows).toHaveLength(6);
    expect(await jobs("process_webhook_event")).toHaveLength(6);

    spanExporter().reset();
    const logs = captureLogs();
    try {
      expect(await processWebhookEvent(rows[0]!.id)).toBe("PROCESSED");
    } finally {
      logs.stop();
    }
    const after = await db().webhookEvent.findMany({ where: { companyId: company.id } });
    expect(after.map((e) => [e.status, e.attempts])).toEqual(after.map(() => ["PROCESSED", 1]));
    expect(await db().booking.findMany({ where: { companyId: company.id }, orderBy: { uid: "asc" }, select: { uid: true, status: true } })).toEqual([
      { uid: "batch-0", status: "CANCELLED" },
      ...[1, 2, 3, 4].map((i) => ({ uid: `batch-${i}`, status: "ACCEPTED" })),
    ]);

    // Each sibling: a consumer span in the trace its webhook request started, with its log line.
    const spans = spanExporter().getFinishedSpans().filter((s) => s.name === "process_webhook_event process" && s.kind === SpanKind.CONSUMER);
    for (const { id, traceId } of sent.slice(1)) {
      const own = spans.filter((s) => s.spanContext().traceId === traceId);
      expect(own).toHaveLength(1);
      expect(own[0]!.attributes).toMatchObject({ "calsync.company_id": company.id, "calsync.webhook.outcome": "processed" });
      expect(own[0]!.attributes["calsync.webhook.event_id"]).toBeDefined();
      const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l["msg"] === "webhook event processed" && l["trace_id"] === traceId);
      expect(line, `log line of ${id}`).toBeDefined();
    }
    expect(spans.filter((s) => s.spanContext().traceId === cancel.headers["x-trace-id"])).toHaveLength(1);

    // The other five jobs run, find their events done, and change nothing.
    await runWebhookJobs();
    expect(await jobs("process_webhook_event")).toEqual([]);
    const final = await db().webhookEvent.findMany({ where: { companyId: company.id } });
    expect(final.map((e) => e.attempts)).toEqual(final.map(() => 1));
  });
});
