/**
 * The proactive Cal.com rate budget: at most CALCOM_RATE_LIMIT_PER_MINUTE requests per API key in
 * any 60 s, counted in the shared rate-limit store (PostgreSQL `rate_limits`, or Redis with
 * REDIS_URL), so the bound holds whatever the number of API and worker processes.
 *
 * Why short windows and not one 60 s window of N points: rate-limiter-flexible counts fixed
 * windows, each opened by the first consume after the previous one expired. N points per 60 s
 * would let 2N requests through within 60 s across a window boundary, while Cal.com counts its own
 * windows (120 per key, then a 60 s block). So each window holds `burst` points and lasts W, with
 * windows opened at least W apart. A sliding period P meets the windows that open within
 * (t − W, t + P), at most ceil(P/W) + 1 of them, so it sees at most (ceil(P/W) + 1)·burst
 * requests; W = P / (floor(N/burst) − 1) keeps that at N or below. Throughput is
 * (floor(N/burst) − 1)·burst per period: 95 of 100 with the defaults (bursts of 5 every 3.16 s).
 * (A budget of 1 cannot be kept this way; it gets one window per period, i.e. at most 2.)
 * The bound is on grants, and it needs each window to open when the store grants its first point:
 * the store's clock decides and stamps every window at the grant (`storeClock`, see ratelimit.ts;
 * stamps taken by the caller before the query waited for a connection, a row lock or a CPU made
 * windows as short as 29 ms instead of 150 under load). A request leaves milliseconds after its
 * grant; the default budget sits 20 % under Cal.com's 120 to absorb that hop.
 *
 * A caller that finds the budget spent waits `msBeforeNext` plus a little jitter and tries again,
 * recording `calsync_rate_budget_waits` / `_wait_seconds` and a span event. The jitter makes the
 * waiters of several companies sharing one key take turns in random order rather than stampede.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { trace } from "@opentelemetry/api";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { env } from "../config.ts";
import { pool } from "../db/client.ts";
import { log } from "../log.ts";
import { rateBudgetWaits, rateBudgetWaitSeconds } from "../metrics.ts";
import { RateLimiterRes, createLimiter } from "../ratelimit.ts";
import { Interrupted, isAbort, throwIfAborted } from "../worker/abort.ts";

export interface RateBudgetOptions {
  /** Requests allowed per key in any `periodMs` (Default: CALCOM_RATE_LIMIT_PER_MINUTE). */
  points?: number;
  /** Length of the sliding period (Default: 60000). Tests shorten it. */
  periodMs?: number;
  /** Requests that may go out back to back (Default: 1 below 20 points, else points/20). */
  burst?: number;
  /** The shared counter store (Default: `createLimiter` on this process's pool or Redis). */
  limiter?: RateLimiterAbstract;
  /** Added to each wait, uniformly random (Default: 50 ms). */
  maxJitterMs?: number;
}

export interface BudgetShape {
  /** Points per window. */
  burst: number;
  /** Window length, whole ms. */
  windowMs: number;
  /** Windows per period. */
  windows: number;
}

/** The window layout that bounds every sliding period by `points` (see the module comment). */
export function budgetShape(points: number, periodMs: number, burst?: number): BudgetShape {
  if (!Number.isInteger(points) || points < 1) throw new RangeError("rate budget: points must be a positive integer");
  const b = Math.max(1, Math.min(Math.floor(points / 2), burst ?? (points < 20 ? 1 : Math.floor(points / 20))));
  const windows = Math.max(1, Math.floor(points / b) - 1);
  // Whole milliseconds, rounded up (a longer window only lowers the rate), and such that the
  // store's seconds·1000 comes back exact: its expiry column is a bigint.
  let windowMs = Math.ceil(periodMs / windows);
  while ((windowMs / 1000) * 1000 !== windowMs) windowMs++;
  return { burst: b, windows, windowMs };
}

export class RateBudget {
  readonly shape: BudgetShape;
  readonly #limiter: RateLimiterAbstract;
  readonly #maxJitterMs: number;

  constructor(options: RateBudgetOptions = {}) {
    const points = options.points ?? env().CALCOM_RATE_LIMIT_PER_MINUTE;
    this.shape = budgetShape(points, options.periodMs ?? 60_000, options.burst);
    this.#maxJitterMs = options.maxJitterMs ?? 50;
    this.#limiter =
      options.limiter ??
      createLimiter({ keyPrefix: "calcom-budget", points: this.shape.burst, duration: this.shape.windowMs / 1000, storeClock: true });
  }

  /**
   * Resolves once one request for the key (an API key fingerprint) may go out; throws
   * `Interrupted` as soon as `signal` fires (a worker shutting down does not sit out the wait).
   */
  async acquire(fingerprint: string, signal?: AbortSignal): Promise<void> {
    let waitedMs = 0;
    for (;;) {
      let wait: number;
      throwIfAborted(signal, "Cal.com rate budget wait");
      try {
        await this.#limiter.consume(fingerprint, 1);
        break;
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err; // the store failed: do not guess, fail the call
        wait = Math.max(1, err.msBeforeNext) + Math.round(Math.random() * this.#maxJitterMs);
      }
      if (waitedMs === 0) {
        rateBudgetWaits.add(1);
        trace.getActiveSpan()?.addEvent("calsync.rate_budget.wait", { "calsync.rate_budget.wait_ms": wait });
      }
      waitedMs += wait;
      try {
        await sleep(wait, undefined, signal ? { signal } : {});
      } catch (err) {
        if (isAbort(err, signal)) throw new Interrupted("Cal.com rate budget wait");
        throw err;
      }
    }
    if (waitedMs > 0) {
      rateBudgetWaitSeconds.record(waitedMs / 1000);
      log("calcom").debug({ waitedMs }, "waited for the Cal.com rate budget");
    }
  }
}

// One budget per pool: tests (and `boot` after a reconnect) get a limiter on the live pool.
let shared: { pool: unknown; budget: RateBudget } | undefined;

/** The process's budget, built on first use from the configuration. */
export function rateBudget(): RateBudget {
  const current = pool();
  if (shared?.pool !== current) shared = { pool: current, budget: new RateBudget() };
  return shared.budget;
}
