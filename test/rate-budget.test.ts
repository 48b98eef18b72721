import { randomUUID } from "node:crypto";
import { trace } from "@opentelemetry/api";
import pg from "pg";
import { RateLimiterPostgres } from "rate-limiter-flexible";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CalcomClient } from "../src/calcom/client.ts";
import { RateBudget, budgetShape } from "../src/calcom/rate-budget.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { startSyncHarness, type SyncHarness } from "./support/sync.ts";

let h: SyncHarness;
const pools: pg.Pool[] = [];
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await h.close();
});

describe("budget shape", () => {
  it("bounds every sliding period by the budget, for any budget", () => {
    for (let points = 2; points <= 500; points++) {
      for (const periodMs of [600, 60_000]) {
        const { burst, windows, windowMs } = budgetShape(points, periodMs);
        // A sliding period meets at most ceil(P/W) + 1 windows of `burst` requests each.
        expect((Math.ceil(periodMs / windowMs) + 1) * burst).toBeLessThanOrEqual(points);
        expect(windows * burst).toBeGreaterThan(points - 2 * burst); // and does not waste much
        expect(Number.isInteger(windowMs) && (windowMs / 1000) * 1000 === windowMs).toBe(true);
      }
    }
    // The default budget, 100 per minute: bursts of 5, 95 per minute sustained.
    expect(budgetShape(100, 60_000)).toEqual({ burst: 5, windows: 19, windowMs: 3158 });
  });
});

/** A budget as another process would hold it: its own pool and limiter on the shared table. */
function budgetInOtherProcess(points: number, periodMs: number): RateBudget {
  const pool = new pg.Pool({ connectionString: h.t.databaseUrl, max: 3 });
  pools.push(pool);
  const shape = budgetShape(points, periodMs);
  const limiter = new RateLimiterPostgres({
    storeClient: pool,
    storeType: "pool",
    tableName: "rate_limits",
    tableCreated: true,
    keyPrefix: "calsync:calcom-budget",
    points: shape.burst,
    duration: shape.windowMs / 1000,
  });
  return new RateBudget({ points, periodMs, limiter, maxJitterMs: 5 });
}

describe("the shared rate budget", () => {
  it("keeps two processes sharing one key within the budget in every sliding period", async () => {
    const apiKey = `cal_test_${randomUUID()}`;
    h.fake.addApiKey(apiKey);
    const ids = h.fake.addEventTypes(apiKey, 8).map((et) => et.id);
    const fingerprint = `fp-${randomUUID()}`;
    const points = 5;
    const periodMs = 600;
    const clients = [budgetInOtherProcess(points, periodMs), budgetInOtherProcess(points, periodMs)].map(
      (budget) => new CalcomClient({ baseUrl: h.fake.url, apiKey, acquire: () => budget.acquire(fingerprint) }),
    );
    // Warm up fetch (its first request pays for lazy set-up, delaying that arrival past its grant).
    await new CalcomClient({ baseUrl: h.fake.url, apiKey }).getEventType(ids[0]!);
    h.fake.clearLog();

    const started = performance.now();
    const results = await Promise.all(clients.flatMap((client) => ids.map((id) => client.getEventType(id))));
    const elapsed = performance.now() - started;

    expect(results).toHaveLength(16);
    expect(h.fake.requests.every((r) => r.status === 200)).toBe(true);
    // 40 ms of slack for the hop from the grant to the fake's clock.
    expect(h.fake.requestsPerWindow(periodMs - 40)).toBeLessThanOrEqual(points);
    // One request per 150 ms window: 16 requests need 15 windows after the first.
    expect(elapsed).toBeGreaterThanOrEqual(15 * 150 - 50);
    expect(elapsed).toBeLessThan(6_000);
  });

  it("records a wait on the active span", async () => {
    spanExporter().reset();
    const budget = budgetInOtherProcess(1, 200);
    const key = `fp-${randomUUID()}`;
    await trace.getTracer("test").startActiveSpan("budget test", async (span) => {
      await budget.acquire(key);
      await budget.acquire(key);
      span.end();
    });
    const span = spanExporter().getFinishedSpans().find((s) => s.name === "budget test")!;
    const waits = span.events.filter((e) => e.name === "calsync.rate_budget.wait");
    expect(waits).toHaveLength(1);
    expect(Number(waits[0]!.attributes!["calsync.rate_budget.wait_ms"])).toBeGreaterThan(100);
  });
});
