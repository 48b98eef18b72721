import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SpanKind } from "@opentelemetry/api";
import { db, pool } from "../src/db/client.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { connectedCompany, startSyncHarness, type SyncHarness } from "./support/sync.ts";
import { drainJobs } from "./support/worker.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());
beforeEach(() => spanExporter().reset());

describe("scheduled syncs and Cal.com calls in traces", () => {
  it("a cron tick starts its own root trace; the company syncs it queues continue it, with Cal.com client spans per company", async () => {
    const { company } = await connectedCompany(h.fake, 2);
    // What graphile-worker's cron does: add the job with the cron payload and no trace carrier.
    await pool().query(`SELECT graphile_worker.add_job('schedule_syncs', '{"_cron":{"ts":"2026-11-25T00:00:00Z","backfilled":false}}'::json)`);
    await drainJobs();

    const run = await db().syncRun.findFirstOrThrow({ where: { companyId: company.id } });
    expect(run).toMatchObject({ trigger: "SCHEDULED", status: "SUCCEEDED", fetched: 2 });

    const spans = spanExporter().getFinishedSpans();
    const tick = spans.find((s) => s.kind === SpanKind.CONSUMER && s.name === "schedule_syncs process");
    expect(tick).toBeDefined();
    expect(tick!.parentSpanContext).toBeUndefined();
    const traceId = tick!.spanContext().traceId;
    const sync = spans.find((s) => s.kind === SpanKind.CONSUMER && s.name === "sync_company process");
    expect(sync?.spanContext().traceId).toBe(traceId);
    expect(run.traceId).toBe(traceId);

    const calcom = spans.filter((s) => s.kind === SpanKind.CLIENT && s.name.startsWith("calcom GET /v2/event-types"));
    expect(calcom.length).toBeGreaterThan(0);
    for (const span of calcom) {
      expect(span.spanContext().traceId).toBe(traceId);
      expect(span.attributes).toMatchObject({ "calsync.company_id": company.id, "http.response.status_code": 200 });
    }
    const publish = spans.find((s) => s.kind === SpanKind.PRODUCER && s.name === "sync_company publish");
    expect(publish?.attributes["calsync.company_id"]).toBe(company.id);
    expect(publish?.attributes["calsync.correlation_id"]).toMatch(/^job-\d+$/);
  });
});
