import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trace } from "@opentelemetry/api";
import { configureLogger, log } from "../src/log.ts";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

function capture() {
  const lines: Record<string, unknown>[] = [];
  configureLogger({ level: "debug", destination: { write: (l: string) => void lines.push(JSON.parse(l)) } });
  return lines;
}

describe("logging", () => {
  it("writes JSON lines with the component, trace and correlation ids of the request", async () => {
    const lines = capture();
    const res = await t
      .http()
      .post("/graphql")
      .set({ authorization: `Bearer ${ADMIN_TOKEN}`, "x-request-id": "req-log-1" })
      .send({ query: "{ companies { totalCount } }" });
    expect(res.status).toBe(200);
    const line = lines.find((l) => l["component"] === "http" && l["correlation_id"] === "req-log-1");
    expect(line).toMatchObject({ level: "info", service: "calsync", status: 200, route: "/graphql" });
    expect(line!["trace_id"]).toBe(res.headers["x-trace-id"]);
  });

  it("redacts keys, secrets and tokens by field name", () => {
    const lines = capture();
    log("calcom").info({ apiKey: "cal_live_abc", nested: { webhookSecret: "s3cret", token: "csk_x" }, authorization: "Bearer x" }, "connecting");
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/cal_live_abc|s3cret|csk_x|Bearer x/);
    expect(lines[0]).toMatchObject({ apiKey: "[redacted]", nested: { webhookSecret: "[redacted]", token: "[redacted]" } });
  });

  it("redacts personal data at any depth, by key, and keeps error names", () => {
    const lines = capture();
    const personal = {
      triggerEvent: "BOOKING_CREATED",
      payload: {
        organizer: { name: "Olivia Organizer", email: "owner@example.net" },
        attendees: [{ name: "Jane Doe", email: "jdoe@example.com", phoneNumber: "+15551234567" }],
        responses: { name: { value: "Jane Doe" }, email: { value: "jdoe@example.com" }, notes: { value: "allergic to nuts" } },
        deeper: { still: { user: { name: "Jane Doe", Email: "jdoe@example.com", phone: "+15551234567" } } },
      },
    };
    log("webhook").warn({ body: personal, companyId: "c1" }, "personal data at depth");
    log("webhook").error({ err: { name: "PrismaClientKnownRequestError", code: "P2002", message: "unique constraint" } }, "plain error object");
    log("webhook").error({ err: new TypeError("boom") }, "error instance");
    log("sync").warn({ failure: { name: "TimeoutError", message: "Cal.com timed out", code: "ETIMEDOUT" } }, "error-like object");
    const text = JSON.stringify(lines);
    for (const secret of ["Jane Doe", "Olivia Organizer", "jdoe@example.com", "owner@example.net", "+15551234567", "allergic"]) {
      expect(text).not.toContain(secret);
    }
    expect(lines[0]).toMatchObject({
      companyId: "c1",
      body: {
        triggerEvent: "BOOKING_CREATED",
        payload: { organizer: "[redacted]", attendees: "[redacted]", responses: "[redacted]", deeper: { still: { user: { name: "[redacted]", Email: "[redacted]", phone: "[redacted]" } } } },
      },
    });
    expect(lines[1]).toMatchObject({ err: { name: "PrismaClientKnownRequestError", code: "P2002", message: "unique constraint" } });
    expect(lines[2]).toMatchObject({ err: { type: "TypeError", message: "boom" } });
    expect(lines[3]).toMatchObject({ failure: { name: "TimeoutError", code: "ETIMEDOUT" } });
  });

  it("keeps personal data of a real delivery out of the log, whatever its nesting", async () => {
    const lines = capture();
    // An unsigned delivery with personal data nested deep: rejected, and nothing of it logged.
    const res = await t
      .http()
      .post("/webhooks/calcom")
      .set("content-type", "application/json")
      .send({ triggerEvent: "BOOKING_CREATED", payload: { a: { b: { c: { attendees: [{ name: "Jane Doe", email: "jdoe@example.com" }] } } } } });
    expect(res.status).toBe(401);
    const text = JSON.stringify(lines);
    expect(text).not.toContain("Jane Doe");
    expect(text).not.toContain("jdoe@example.com");
  });

  it("adds trace_id and span_id inside a span", () => {
    const lines = capture();
    trace.getTracer("test").startActiveSpan("unit", (span) => {
      log("sync").info("inside");
      span.end();
      expect(lines[0]).toMatchObject({ component: "sync", trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
    });
  });

  it("never breaks an operation when the log sink fails", async () => {
    configureLogger({ level: "debug", destination: { write: () => { throw new Error("disk full"); } } });
    const res = await t.gql(`mutation { createCompany(input: { name: "Still works", slug: "still-works" }) { slug } }`);
    expect(res.body).toEqual({ data: { createCompany: { slug: "still-works" } } });
    configureLogger({ level: "silent" });
  });
});
