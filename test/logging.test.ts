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
