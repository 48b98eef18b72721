/**
 * Operational rates over the last 24 hours and 7 days, computed in SQL from the run ledger
 * (`sync_runs`) and the webhook inbox (`webhook_events`). Served by GraphQL (`Company.rates`,
 * `CoverageReport.rates`) and as metrics (`calsync_sync_success_ratio`,
 * `calsync_webhook_error_ratio`), so the API, the dashboard and the alerts read the same numbers.
 *
 * Definitions (docs/api.md repeats them):
 *   sync success rate   runs SUCCEEDED / runs finished (SUCCEEDED + FAILED), by `finished_at` in
 *                       the window; runs still QUEUED or RUNNING do not count. null: none finished.
 *   webhook error rate  deliveries stored FAILED (processing gave up) or INVALID (signed, but not
 *                       a Cal.com payload) / every stored delivery, by `received_at` in the window.
 *                       Duplicates are not stored twice and so count once; 401s are not stored and
 *                       do not count (they are not Cal.com's); UNMATCHED has an alert of its own
 *                       and is not an error here. null: nothing received.
 * A window ends now; "24h" is the last 24 hours, "7d" the last 7 × 24 hours.
 */
import { Prisma } from "../generated/prisma/client.ts";
import { db } from "../db/client.ts";

export interface WindowRates {
  /** SUCCEEDED / finished runs (0-1), null when no run finished in the window. */
  syncSuccessRate: number | null;
  syncRunsFinished: number;
  syncRunsFailed: number;
  /** FAILED or INVALID / stored deliveries (0-1), null when none arrived in the window. */
  webhookErrorRate: number | null;
  webhooksReceived: number;
  webhooksFailed: number;
}

export interface Rates {
  last24h: WindowRates;
  last7d: WindowRates;
}

interface Row {
  company_id: string | null;
  runs_24h: number;
  failed_runs_24h: number;
  ok_runs_24h: number;
  runs_7d: number;
  failed_runs_7d: number;
  ok_runs_7d: number;
  events_24h: number;
  failed_events_24h: number;
  events_7d: number;
  failed_events_7d: number;
}

/**
 * One row per company (`grouped`) or one row for all of `companyIds` (null: every company and
 * the deliveries that matched none). Both halves read only the last 7 days through the
 * `finished_at` / `received_at` indexes.
 */
function ratesSql(companyIds: readonly string[] | null, grouped: boolean): Prisma.Sql {
  const runScope = companyIds ? Prisma.sql`AND company_id = ANY(${[...companyIds]}::uuid[])` : Prisma.empty;
  const eventScope = companyIds ? Prisma.sql`AND company_id = ANY(${[...companyIds]}::uuid[])` : Prisma.empty;
  // FULL JOIN needs an equality: deliveries without a company get the nil UUID as their key.
  const key = grouped ? Prisma.sql`coalesce(company_id, ${NIL}::uuid) AS k` : Prisma.sql`${NIL}::uuid AS k`;
  const groupBy = grouped ? Prisma.sql`GROUP BY 1` : Prisma.empty;
  return Prisma.sql`
    WITH runs AS (
      SELECT ${key},
             count(*) FILTER (WHERE finished_at >= now() - interval '24 hours')::int AS runs_24h,
             count(*) FILTER (WHERE finished_at >= now() - interval '24 hours' AND status = 'FAILED')::int AS failed_runs_24h,
             count(*) FILTER (WHERE finished_at >= now() - interval '24 hours' AND status = 'SUCCEEDED')::int AS ok_runs_24h,
             count(*)::int AS runs_7d,
             count(*) FILTER (WHERE status = 'FAILED')::int AS failed_runs_7d,
             count(*) FILTER (WHERE status = 'SUCCEEDED')::int AS ok_runs_7d
        FROM sync_runs
       WHERE finished_at >= now() - interval '7 days' AND status IN ('SUCCEEDED', 'FAILED') ${runScope}
       ${groupBy}
    ), events AS (
      SELECT ${key},
             count(*) FILTER (WHERE received_at >= now() - interval '24 hours')::int AS events_24h,
             count(*) FILTER (WHERE received_at >= now() - interval '24 hours' AND status IN ('FAILED', 'INVALID'))::int AS failed_events_24h,
             count(*)::int AS events_7d,
             count(*) FILTER (WHERE status IN ('FAILED', 'INVALID'))::int AS failed_events_7d
        FROM webhook_events
       WHERE received_at >= now() - interval '7 days' ${eventScope}
       ${groupBy}
    )
    SELECT nullif(k, ${NIL}::uuid)::text AS company_id,
           coalesce(r.runs_24h, 0) AS runs_24h, coalesce(r.failed_runs_24h, 0) AS failed_runs_24h, coalesce(r.ok_runs_24h, 0) AS ok_runs_24h,
           coalesce(r.runs_7d, 0) AS runs_7d, coalesce(r.failed_runs_7d, 0) AS failed_runs_7d, coalesce(r.ok_runs_7d, 0) AS ok_runs_7d,
           coalesce(e.events_24h, 0) AS events_24h, coalesce(e.failed_events_24h, 0) AS failed_events_24h,
           coalesce(e.events_7d, 0) AS events_7d, coalesce(e.failed_events_7d, 0) AS failed_events_7d
      FROM runs r FULL JOIN events e USING (k)`;
}

const NIL = "00000000-0000-0000-0000-000000000000";

const ratio = (part: number, whole: number) => (whole === 0 ? null : part / whole);

function toRates(r: Row | undefined): Rates {
  const w = (runs: number, failed: number, ok: number, events: number, failedEvents: number): WindowRates => ({
    syncSuccessRate: ratio(ok, runs),
    syncRunsFinished: runs,
    syncRunsFailed: failed,
    webhookErrorRate: ratio(failedEvents, events),
    webhooksReceived: events,
    webhooksFailed: failedEvents,
  });
  return {
    last24h: w(r?.runs_24h ?? 0, r?.failed_runs_24h ?? 0, r?.ok_runs_24h ?? 0, r?.events_24h ?? 0, r?.failed_events_24h ?? 0),
    last7d: w(r?.runs_7d ?? 0, r?.failed_runs_7d ?? 0, r?.ok_runs_7d ?? 0, r?.events_7d ?? 0, r?.failed_events_7d ?? 0),
  };
}

/** Rates per company (every id gets an entry; quiet companies have null rates). */
export async function ratesByCompany(companyIds: readonly string[]): Promise<Map<string, Rates>> {
  const rows = companyIds.length ? await db().$queryRaw<Row[]>(ratesSql(companyIds, true)) : [];
  const byId = new Map(rows.filter((r) => r.company_id).map((r) => [r.company_id!, r]));
  return new Map(companyIds.map((id) => [id, toRates(byId.get(id))]));
}

/** Rates over `companyIds` together; null: the whole deployment (also deliveries that matched no company). */
export async function ratesTotal(companyIds: readonly string[] | null): Promise<Rates> {
  const rows = await db().$queryRaw<Row[]>(ratesSql(companyIds, false));
  return toRates(rows[0]);
}
