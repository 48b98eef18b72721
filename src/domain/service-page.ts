/**
 * One page of a company's services (`Company.services`), with its total count, as one statement
 * on the pg pool.
 *
 * Why not Prisma: Pothos' relatedConnection made it two Prisma queries per page (the company with
 * its `_count` of services, then the page with all 23 columns of 51 rows), and Prisma's query
 * interpreter and row mapping were about half of a 50-service page request's CPU (3.2 ms before,
 * 1.7 ms after, bench at load ~5). PostgreSQL's own work is about the same either way: the planner
 * pushes the company filter into Prisma's `GROUP BY company_id` count, so both count the company's
 * rows only. Here the page and the count are one statement and one round trip, with only the
 * columns the selection reads.
 *
 * Invariants (the Prisma version's, so cursors and pages stay what clients hold):
 * - order: `name, id` ascending, on the index `services(company_id, name, id)`;
 * - a cursor is Pothos' prisma cursor on `id` (`formatPrismaCursor`), the page after it is the rows
 *   after the cursor row's `(name, id)` position, before it the rows before it. A cursor whose row
 *   no longer exists gives an empty page, as Prisma's did. (Prisma read the position with `>=` and
 *   skipped the first row; that skipped a live row when the cursor row itself was filtered out,
 *   e.g. a filter on syncStatus after the row changed status. Strict `>` does not.)
 * - the filter is `serviceFilterWhere`'s: statuses, isActive, and `search` as a case-insensitive
 *   substring of name or slug (ILIKE '%' || s || '%', `%` and `_` not escaped, as Prisma's
 *   `contains` sends it). The count applies the same filter (Pothos' `filterConnectionTotalCount`).
 * - only the company's own rows: `company_id = $1` is part of every branch, the cursor's position
 *   included: another company's row as the cursor is an unknown cursor (an empty page), so its
 *   name is never compared with this company's names (which would let a caller who knows a foreign
 *   service id learn where its name sorts).
 */
import { pool } from "../db/client.ts";
import type { SyncStatus } from "../generated/prisma/enums.ts";

export interface ServicePageFilter {
  syncStatus?: readonly SyncStatus[] | null | undefined;
  isActive?: boolean | null | undefined;
  search?: string | null | undefined;
}

/** GraphQL field of `Service` → column, for the scalars the type exposes. */
export const SERVICE_COLUMNS: Readonly<Record<string, string>> = {
  id: "id",
  companyId: "company_id",
  name: "name",
  slug: "slug",
  description: "description",
  durationMinutes: "duration_minutes",
  priceMinor: "price_minor",
  currency: "currency",
  isActive: "is_active",
  hidden: "hidden",
  calcomEventTypeId: "calcom_event_type_id",
  syncStatus: "sync_status",
  lastCalcomSync: "last_calcom_sync",
  syncError: "sync_error",
  locations: "locations",
  bookingFields: "booking_fields",
  metadata: "metadata",
  externalId: "external_id",
  createdAt: "created_at",
  updatedAt: "updated_at",
};

export interface ServicePageQuery {
  companyId: string;
  filter: ServicePageFilter | null | undefined;
  /** Rows to read: the page size plus one (to tell whether there is more); negative pages backwards. */
  take: number;
  /** The id of the cursor row (`after` when `take` > 0, `before` when < 0). */
  cursorId: string | null;
  /**
   * Service fields (keys of SERVICE_COLUMNS) to load; `id`, `companyId` (the type's auth scope)
   * and `name` always are. pg gives each column the JavaScript type Prisma gives the field (uuid
   * and enum as string, timestamptz as Date, jsonb parsed, int4 as number).
   */
  fields: readonly string[];
  /** Read the page rows (false: only the count is asked for). */
  rows: boolean;
  count: boolean;
}

export interface ServicePage {
  /** Service rows with camelCase keys, in `name, id` order. */
  rows: Record<string, unknown>[];
  totalCount: number | null;
}

function quote(column: string): string {
  return `"${column}"`;
}

export async function servicePage(q: ServicePageQuery): Promise<ServicePage> {
  const values: unknown[] = [q.companyId];
  const param = (v: unknown) => `$${values.push(v)}`;
  const where = ["company_id = $1"];
  if (q.filter?.syncStatus?.length) where.push(`sync_status = ANY(${param(q.filter.syncStatus)}::"SyncStatus"[])`);
  if (q.filter?.isActive !== null && q.filter?.isActive !== undefined) where.push(`is_active = ${param(q.filter.isActive)}`);
  const search = q.filter?.search?.trim();
  if (search) {
    const s = param(search);
    where.push(`(name ILIKE ('%' || ${s} || '%') OR slug ILIKE ('%' || ${s} || '%'))`);
  }
  const filtered = where.join(" AND ");

  // name: the outer ORDER BY reads it.
  const fields = new Set(["id", "companyId", "name", ...q.fields]);
  const columns = [...fields].map((f) => {
    const column = SERVICE_COLUMNS[f];
    if (!column) throw new Error(`servicePage: unknown Service field ${f}`);
    return f === column ? quote(column) : `${quote(column)} AS ${quote(f)}`;
  });

  let page = "";
  if (q.rows) {
    const forward = q.take > 0;
    const keyset = q.cursorId
      ? ` AND (name, id) ${forward ? ">" : "<"} (SELECT c.name, c.id FROM services c WHERE c.id = ${param(q.cursorId)}::uuid AND c.company_id = $1)`
      : "";
    const dir = forward ? "ASC" : "DESC";
    page =
      `SELECT ${columns.join(", ")} FROM services WHERE ${filtered}${keyset} ` +
      `ORDER BY name ${dir}, id ${dir} LIMIT ${param(Math.abs(q.take))}`;
  }
  const count = q.count ? `SELECT count(*)::int AS n FROM services WHERE ${filtered}` : "";

  let text: string;
  if (page && count) {
    // The count row is always there; the page joins it (none: one row of NULLs). The outer ORDER BY
    // puts a backward page (read DESC from the index) back into ascending order.
    text = `SELECT t.n AS "totalCount$", p.* FROM (${count}) t LEFT JOIN LATERAL (${page}) p ON true ORDER BY p.name, p.id`;
  } else if (page) {
    text = `SELECT p.* FROM (${page}) p ORDER BY p.name, p.id`;
  } else {
    text = `SELECT t.n AS "totalCount$" FROM (${count}) t`;
  }
  const result = await pool().query<Record<string, unknown>>(text, values);
  const rows: Record<string, unknown>[] = [];
  let totalCount: number | null = null;
  for (const row of result.rows) {
    if (q.count) totalCount = row["totalCount$"] as number;
    // A row of NULLs: the page was empty. (Rows keep the extra "totalCount$" key; nothing reads it.)
    if (q.rows && row["id"] !== null) rows.push(row);
  }
  return { rows, totalCount };
}
