/**
 * Sync coverage: how much of each company's active catalogue is on Cal.com. Computed by one SQL
 * aggregate over `services` (GROUPING SETS gives every company's row and the totals row in one
 * pass); rows are never loaded into the process. Each company's row carries the company's own
 * columns too, so `coverageReport { companies { company { … } } }` needs no second query. It runs
 * on the pg pool, not through Prisma: Prisma's raw-query path added about 0.3 ms of CPU per call
 * for rows pg already types the same way (int4 to number, timestamptz to Date). Concurrent
 * requests for the same companies share one run of it (see `aggregate`).
 *
 * Definitions (CONTRACT section 4):
 * - active: `is_active` and not marked LEGACY (legacy services are deliberately off Cal.com);
 * - synced: active and SYNCED;  neverSynced ("orphaned"): active without a Cal.com id;
 * - coveragePercent: synced / active * 100, 0 when nothing is active, rounded to 2 decimals.
 */
import { Prisma, type Company } from "../generated/prisma/client.ts";
import { pool } from "../db/client.ts";
import { CoalescedReads } from "../db/coalesce.ts";

export interface Coverage {
  totalServices: number;
  activeServices: number;
  syncedServices: number;
  pendingServices: number;
  erroredServices: number;
  neverSyncedServices: number;
  legacyServices: number;
  remoteDeletedServices: number;
  coveragePercent: number;
  lastSyncedAt: Date | null;
}

export interface CoverageReport {
  totalCompanies: number;
  companiesUsingCalcom: number;
  totals: Coverage;
  companies: { companyId: string; slug: string; calcomConnected: boolean; company: Company; coverage: Coverage }[];
}

interface RawRow {
  company_id: string | null;
  slug: string | null;
  name: string | null;
  created_at: Date | null;
  updated_at: Date | null;
  companies: number;
  connected: number;
  total: number;
  active: number;
  synced: number;
  pending: number;
  errored: number;
  never_synced: number;
  legacy: number;
  remote_deleted: number;
  last_synced_at: Date | null;
}

function toCoverage(r: RawRow): Coverage {
  return {
    totalServices: r.total,
    activeServices: r.active,
    syncedServices: r.synced,
    pendingServices: r.pending,
    erroredServices: r.errored,
    neverSyncedServices: r.never_synced,
    legacyServices: r.legacy,
    remoteDeletedServices: r.remote_deleted,
    coveragePercent: r.active === 0 ? 0 : Math.round((r.synced / r.active) * 10_000) / 100,
    lastSyncedAt: r.last_synced_at,
  };
}

/** The coverage aggregate as SQL (the bench runs it directly as its floor). */
export function coverageSql(companyIds: readonly string[] | null): Prisma.Sql {
  const companyFilter = companyIds ? Prisma.sql`WHERE c.id = ANY(${companyIds}::uuid[])` : Prisma.empty;
  const serviceFilter = companyIds ? Prisma.sql`WHERE company_id = ANY(${companyIds}::uuid[])` : Prisma.empty;
  const active = Prisma.sql`is_active AND sync_status <> 'LEGACY'`;
  // Services are counted per company first (one pass over the index-ordered rows), then joined
  // to companies: cheaper than DISTINCT counts over the joined rows.
  return Prisma.sql`
    SELECT c.id AS company_id,
           max(c.slug) AS slug,
           max(c.name) AS name,
           max(c.created_at) AS created_at,
           max(c.updated_at) AS updated_at,
           count(*)::int AS companies,
           count(cc.company_id)::int AS connected,
           coalesce(sum(s.total), 0)::int AS total,
           coalesce(sum(s.active), 0)::int AS active,
           coalesce(sum(s.synced), 0)::int AS synced,
           coalesce(sum(s.pending), 0)::int AS pending,
           coalesce(sum(s.errored), 0)::int AS errored,
           coalesce(sum(s.never_synced), 0)::int AS never_synced,
           coalesce(sum(s.legacy), 0)::int AS legacy,
           coalesce(sum(s.remote_deleted), 0)::int AS remote_deleted,
           max(s.last_synced_at) AS last_synced_at
      FROM companies c
      LEFT JOIN calcom_connections cc ON cc.company_id = c.id
      LEFT JOIN (
        SELECT company_id,
               count(*) AS total,
               count(*) FILTER (WHERE ${active}) AS active,
               count(*) FILTER (WHERE ${active} AND sync_status = 'SYNCED') AS synced,
               count(*) FILTER (WHERE sync_status = 'PENDING') AS pending,
               count(*) FILTER (WHERE sync_status = 'ERROR') AS errored,
               count(*) FILTER (WHERE ${active} AND calcom_event_type_id IS NULL) AS never_synced,
               count(*) FILTER (WHERE sync_status = 'LEGACY') AS legacy,
               count(*) FILTER (WHERE sync_status = 'REMOTE_DELETED') AS remote_deleted,
               max(last_calcom_sync) AS last_synced_at
          FROM services
          ${serviceFilter}
         GROUP BY company_id
      ) s ON s.company_id = c.id
      ${companyFilter}
     GROUP BY GROUPING SETS ((c.id), ())
     ORDER BY c.id NULLS FIRST`;
}

const reads = new CoalescedReads<RawRow[]>();

/**
 * The aggregate, coalesced (src/db/coalesce.ts): concurrent requests for the same companies share
 * one run that started after each of them arrived, so a service written before a request is
 * always counted in its answer. The rows are shared: callers only read them.
 */
function aggregate(companyIds: readonly string[] | null): Promise<RawRow[]> {
  const key = companyIds ? [...companyIds].sort().join(",") : "*";
  return reads.read(key, async () => {
    const sql = coverageSql(companyIds);
    return (await pool().query<RawRow>(sql.text, sql.values as unknown[])).rows;
  });
}

/** Coverage of several companies (one query); companies without services get zeros. */
export async function coverageByCompany(companyIds: readonly string[]): Promise<Map<string, Coverage>> {
  const rows = await aggregate(companyIds);
  const out = new Map<string, Coverage>();
  for (const r of rows) if (r.company_id) out.set(r.company_id, toCoverage(r));
  return out;
}

/** The report over every company, or over the given ones (a company token sees its own). */
export async function coverageReport(companyIds: readonly string[] | null): Promise<CoverageReport> {
  const rows = await aggregate(companyIds);
  const totalsRow = rows.find((r) => r.company_id === null);
  const empty: RawRow = {
    company_id: null, slug: null, name: null, created_at: null, updated_at: null, companies: 0, connected: 0, total: 0, active: 0, synced: 0, pending: 0,
    errored: 0, never_synced: 0, legacy: 0, remote_deleted: 0, last_synced_at: null,
  };
  const totals = totalsRow ?? empty;
  return {
    totalCompanies: totals.companies,
    companiesUsingCalcom: totals.connected,
    totals: toCoverage(totals),
    companies: rows
      .filter((r): r is RawRow & { company_id: string } => r.company_id !== null)
      .map((r) => ({
        companyId: r.company_id,
        slug: r.slug ?? "",
        calcomConnected: r.connected > 0,
        company: { id: r.company_id, name: r.name ?? "", slug: r.slug ?? "", createdAt: r.created_at!, updatedAt: r.updated_at! },
        coverage: toCoverage(r),
      })),
  };
}
