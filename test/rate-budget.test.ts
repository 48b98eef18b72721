import { randomUUID } from "node:crypto";
import { trace } from "@opentelemetry/api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CalcomClient } from "../src/calcom/client.ts";
import { RateBudget, budgetShape, type BudgetShape } from "../src/calcom/rate-budget.ts";
import { pool } from "../src/db/client.ts";
import { createLimiter } from "../src/ratelimit.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { startSyncHarness, type SyncHarness } from "./support/sync.ts";

let h: SyncHarness;
const otherPools: pg.Pool[] = [];
beforeAll(async () => {
  h = await startSyncHarness();
  // Every change to a counter, as PostgreSQL commits it: a consume that was granted leaves a row
  // version with `points` at most the window's burst, and `expire` = the window's start + its
  // length, both stamped by the store (see src/ratelimit.ts).
  await pool().query(`
    CREATE TABLE budget_grants (key text NOT NULL, points integer NOT NULL, expire bigint NOT NULL);
    CREATE FUNCTION log_budget_grant() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO budget_grants VALUES (NEW.key, NEW.points, NEW.expire); RETURN NULL; END $$;
    CREATE TRIGGER log_budget_grant AFTER INSERT OR UPDATE ON rate_limits
      FOR EACH ROW EXECUTE FUNCTION log_budget_grant();`);
});
afterAll(async () => {
  await Promise.all(otherPools.map((p) => p.end()));
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
  const ownPool = new pg.Pool({ connectionString: h.t.databaseUrl, max: 3 });
  otherPools.push(ownPool);
  const shape = budgetShape(points, periodMs);
  const limiter = createLimiter({
    keyPrefix: "calcom-budget",
    points: shape.burst,
    duration: shape.windowMs / 1000,
    pgPool: ownPool,
    storeClock: true,
  });
  return new RateBudget({ points, periodMs, limiter, maxJitterMs: 5 });
}

/**
 * The most grants the store made for `fingerprint` in any `periodMs`, each window's grants taken
 * at the worst place inside it: a period starting at t meets the windows with start in
 * (t − W, t + P), and the worst t is just before a window ends. Read from the store's own
 * records, so it holds whatever the load on the test's processes (the hop from a grant to the
 * fake's clock is not the budget's to bound; Cal.com's limit sits 20 % above it for that).
 */
async function grantsPerPeriod(fingerprint: string, { windowMs, burst }: BudgetShape, periodMs: number) {
  const { rows } = await pool().query<{ start: string; grants: number }>(
    `SELECT expire - $3 AS start, max(points) AS grants FROM budget_grants
      WHERE key = $1 AND points <= $2 GROUP BY expire ORDER BY expire`,
    [`calsync:calcom-budget:${fingerprint}`, burst, windowMs],
  );
  const windows = rows.map((r) => ({ start: Number(r.start), grants: Number(r.grants) }));
  let worst = 0;
  for (const w of windows) {
    const met = windows.filter((o) => o.start >= w.start && o.start < w.start + windowMs - 1 + periodMs);
    worst = Math.max(worst, met.reduce((n, o) => n + o.grants, 0));
  }
  return { windows, worst, total: windows.reduce((n, w) => n + w.grants, 0) };
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
    expect(h.fake.requests).toHaveLength(16);
    expect(h.fake.requests.every((r) => r.status === 200)).toBe(true);
    const shape = budgetShape(points, periodMs);
    const { windowMs, burst } = shape;
    const grants = await grantsPerPeriod(fingerprint, shape, periodMs);
    expect(grants.total).toBe(16);
    expect(grants.worst).toBeLessThanOrEqual(points);
    // Windows open back to back by the store's clock, at least a window apart, each with its burst.
    for (let i = 1; i < grants.windows.length; i++) {
      expect(grants.windows[i]!.start - grants.windows[i - 1]!.start).toBeGreaterThanOrEqual(windowMs);
    }
    expect(grants.windows.every((w) => w.grants === burst)).toBe(true);
    // One request per 150 ms window: 16 requests need 15 windows after the first.
    expect(elapsed).toBeGreaterThanOrEqual(15 * windowMs - 50);
  });

  it("records a wait on the active span", async () => {
    spanExporter().reset();
    // A 1 s window: the second acquire waits what is left of it, whatever the load delays.
    const budget = budgetInOtherProcess(1, 1_000);
    const key = `fp-${randomUUID()}`;
    await trace.getTracer("test").startActiveSpan("budget test", async (span) => {
      await budget.acquire(key);
      await budget.acquire(key);
      span.end();
    });
    const span = spanExporter().getFinishedSpans().find((s) => s.name === "budget test")!;
    const waits = span.events.filter((e) => e.name === "calsync.rate_budget.wait");
    expect(waits).toHaveLength(1);
    expect(Number(waits[0]!.attributes!["calsync.rate_budget.wait_ms"])).toBeGreaterThan(500);
  });
});
