import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { SpanKind } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import { db, pool } from "../src/db/client.ts";
import { ADMIN_TOKEN, SECRETS_KEY, startTestApp, type TestApp } from "./support/app.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { captureLogs, deliver, runWebhookJobs, scopedPath } from "./support/webhooks.ts";
import { OtlpReceiver } from "./support/otlp-receiver.ts";
import { bookingCreated } from "./fixtures/webhooks.ts";
import { createCompany, createService, createWebhookSecret } from "./factories.ts";

// These tests start real calsync processes (tsx compiles the app first): slow on a busy 2-core CI.
vi.setConfig({ testTimeout: 120_000 });

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());
beforeEach(() => spanExporter().reset());

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

/** Walks up from `span` through `byId`; true when `ancestor` is on the way. */
function descendsFrom(span: ReadableSpan, ancestor: ReadableSpan, byId: Map<string, ReadableSpan>): boolean {
  for (let p = parentOf(span); p; p = byId.get(p) ? parentOf(byId.get(p)!) : undefined) {
    if (p === ancestor.spanContext().spanId) return true;
  }
  return false;
}

async function connectedCompany() {
  const company = await createCompany();
  const secret = await createWebhookSecret(company.id);
  const service = await createService(company.id, { calcomEventTypeId: 4242, syncStatus: "SYNCED" });
  return { company, secret, service };
}

describe("one trace from webhook to database write", () => {
  it("links request, enqueue, job and the job's SQL in one trace, carrying the correlation id", async () => {
    const { company, secret } = await connectedCompany();
    const logs = captureLogs();
    const res = await deliver(t, scopedPath(company.id), bookingCreated({ eventTypeId: 4242, uid: "trace-1" }), {
      secret,
      headers: { "x-request-id": "corr-trace-1" },
    });
    expect(res.status).toBe(202);
    const traceId = res.headers["x-trace-id"] as string;
    expect(res.headers["x-request-id"]).toBe("corr-trace-1");

    await runWebhookJobs();
    logs.stop();
    const booking = await db().booking.findFirstOrThrow({ where: { uid: "trace-1" } });
    expect(booking.companyId).toBe(company.id);

    const spans = spanExporter().getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const server = spans.find((s) => s.kind === SpanKind.SERVER);
    const producer = spans.find((s) => s.kind === SpanKind.PRODUCER && s.name === "process_webhook_event publish");
    const consumer = spans.find((s) => s.kind === SpanKind.CONSUMER && s.name === "process_webhook_event process");
    expect(server, "HTTP server span").toBeDefined();
    // Named by route, never by the concrete URL (which holds the company id).
    expect(server!.name).toBe("POST /webhooks/calcom/:companyId");
    expect(server!.attributes["http.route"]).toBe("/webhooks/calcom/:companyId");
    expect(producer, "enqueue span").toBeDefined();
    expect(consumer, "job span").toBeDefined();

    expect(descendsFrom(producer!, server!, byId)).toBe(true);
    expect(parentOf(consumer!)).toBe(producer!.spanContext().spanId);
    expect(consumer!.links.map((l) => l.context.spanId)).toEqual([producer!.spanContext().spanId]);
    expect(consumer!.attributes).toMatchObject({
      "messaging.system": "graphile_worker",
      "messaging.destination.name": "process_webhook_event",
      "calsync.correlation_id": "corr-trace-1",
      "calsync.company_id": company.id,
    });
    expect(consumer!.attributes["messaging.message.id"]).toMatch(/^\d+$/);
    expect(server!.attributes["calsync.correlation_id"]).toBe("corr-trace-1");
    expect(server!.attributes["calsync.company_id"]).toBe(company.id);

    // The job's database work sits under the job span, in the same trace.
    const jobSql = spans.filter((s) => (s.name.startsWith("pg.") || s.name.startsWith("prisma:")) && descendsFrom(s, consumer!, byId));
    expect(jobSql.length).toBeGreaterThan(0);
    expect(jobSql.some((s) => /INSERT|UPDATE/i.test(String(s.attributes["db.query.text"] ?? s.attributes["db.statement"] ?? "")))).toBe(true);

    // The stored row and the log lines of both the request and the job carry the ids.
    const event = await db().webhookEvent.findFirstOrThrow({ where: { companyId: company.id } });
    expect(event).toMatchObject({ correlationId: "corr-trace-1", traceId, status: "PROCESSED" });
    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l["component"] === "http" && l["route"] === "/webhooks/calcom/:companyId")).toMatchObject({
      correlation_id: "corr-trace-1",
      trace_id: traceId,
      status: 202,
    });
    const jobLines = lines.filter((l) => l["correlation_id"] === "corr-trace-1" && l["trace_id"] === traceId && l["span_id"]);
    expect(jobLines.length).toBeGreaterThan(0);
  });

  it("gives a GraphQL operation its own span with the operation's name", async () => {
    const res = await t.gql("query DashboardCompanies { companies { totalCount } }");
    const traceId = res.headers["x-trace-id"];
    const spans = spanExporter().getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const operation = spans.find((s) => s.name.includes("DashboardCompanies"));
    expect(operation, spans.map((s) => s.name).join(", ")).toBeDefined();
    expect(spans.some((s) => s.name === "Query.companies")).toBe(true);
  });

  it("starts a job enqueued without a carrier (cron) in a root trace of its own", async () => {
    const { company } = await connectedCompany();
    const event = await db().webhookEvent.create({
      data: { companyId: company.id, triggerEvent: "PING", correlationId: "seed", bodySha256: "cron-root", payload: { triggerEvent: "PING", payload: {} } },
    });
    await pool().query("SELECT graphile_worker.add_job('process_webhook_event', json_build_object('eventId', $1::text))", [event.id]);
    await runWebhookJobs();
    const consumer = spanExporter()
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.CONSUMER && s.attributes["calsync.webhook.event_id"] === event.id);
    expect(consumer).toBeDefined();
    expect(parentOf(consumer!)).toBeUndefined();
    expect(consumer!.links).toEqual([]);
    expect(consumer!.attributes["calsync.correlation_id"]).toMatch(/^job-\d+$/);
  });
});

describe("export over the wire (OTLP/HTTP JSON)", () => {
  it("sends the webhook's whole trace (request, enqueue, job, SQL) to the configured endpoint", async () => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    const { company, secret } = await connectedCompany();
    const child = spawn(process.execPath, ["--import", "tsx", "--import", "./otel/register.ts", "src/cli.ts", "serve"], {
      env: {
        ...process.env, DATABASE_URL: t.databaseUrl, ADMIN_TOKEN, SECRETS_KEY, PORT: "0", LOG_LEVEL: "warn",
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "50",
        OTEL_METRICS_EXPORTER: "none",
      },
    });
    try {
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (d) => {
          out += d;
          const m = /GraphiQL:\s+(http:\/\/\S+)\/graphql/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once("exit", (code) => reject(new Error(`server exited (${code}): ${out}`)));
      });
      const body = JSON.stringify(bookingCreated({ eventTypeId: 4242, uid: "wire-1" }));
      const { signBody } = await import("../src/calcom/signature.ts");
      const res = await fetch(`${url}${scopedPath(company.id)}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-cal-signature-256": signBody(secret, body) },
        body,
      });
      expect(res.status).toBe(202);
      const traceId = res.headers.get("x-trace-id")!;
      const spans = await receiver.waitFor((all) => {
        const mine = all.filter((s) => s.traceId === traceId);
        return mine.some((s) => s.kind === 5) && mine.some((s) => s.name.startsWith("pg.") && s.attributes["db.query.text"] !== undefined);
      });
      const mine = spans.filter((s) => s.traceId === traceId);
      expect(mine.some((s) => s.kind === 2)).toBe(true); // SERVER
      const producer = mine.find((s) => s.kind === 4)!; // PRODUCER
      const consumer = mine.find((s) => s.kind === 5)!; // CONSUMER
      expect(consumer.parentSpanId).toBe(producer.spanId);
      expect(consumer.links).toEqual([{ traceId, spanId: producer.spanId }]);
      expect([...receiver.contentTypes]).toContain("application/json");
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
      await receiver.close();
    }
  });
});
