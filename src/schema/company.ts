import DataLoader from "dataloader";
import { createContextCache } from "@pothos/core";
import { builder, type Context } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import type { Prisma, Company as PrismaCompany } from "../generated/prisma/client.ts";
import { db, pool } from "../db/client.ts";
import { createCompany } from "../domain/companies.ts";
import { actorOf } from "../domain/audit.ts";
import { coverageByCompany, type Coverage } from "../domain/coverage.ts";
import { CoverageRef } from "./coverage.ts";
import { isUuid } from "./ids.ts";

export const Company = builder.prismaNode("Company", {
  id: { field: "id" },
  authScopes: (company, ctx) => canSeeCompany(ctx.principal, company.id),
  fields: (t) => ({
    name: t.exposeString("name"),
    slug: t.exposeString("slug"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    calcomConnected: t.boolean({
      select: { connection: { select: { companyId: true } } },
      resolve: (company) => company.connection !== null,
    }),
    coverage: t.field({
      type: CoverageRef,
      // Batched per request: every company in a page shares one aggregate query.
      resolve: (company, _args, ctx) => coverageLoader(ctx).load(company.id),
    }),
  }),
});

/** One coverage query per request, however many companies the page shows. */
const coverageLoader = createContextCache(
  () => new DataLoader<string, Coverage>(async (ids) => {
    const byId = await coverageByCompany(ids);
    return ids.map((id) => byId.get(id) ?? new Error(`no coverage row for ${id}`));
  }),
);

function visibleCompanies(ctx: Context): Prisma.CompanyWhereInput {
  return ctx.principal.kind === "admin" ? {} : { id: ctx.principal.companyId };
}

builder.queryFields((t) => ({
  companies: t.prismaConnection({
    type: "Company",
    cursor: "id",
    totalCount: (_parent, _args, ctx) => db().company.count({ where: visibleCompanies(ctx) }),
    resolve: (query, _parent, _args, ctx) =>
      db().company.findMany({ ...query, where: visibleCompanies(ctx), orderBy: { id: "asc" } }),
  }, { name: "CompanyConnection" }, { name: "CompanyEdge" }),
  company: t.prismaField({
    type: "Company",
    nullable: true,
    args: { id: t.arg.globalID({ required: true, for: Company }) },
    resolve: (query, _parent, args) => {
      if (!isUuid(args.id.id)) return null;
      const own = ownColumnsQuery(query);
      return own ? companyRow(args.id.id, own.connection) : db().company.findUnique({ ...query, where: { id: args.id.id } });
    },
  }),
}));

/**
 * `company(id:)` when the selection needs only the company's own columns (Pothos' query is `{}`:
 * a services page, name, slug, coverage…), optionally with `calcomConnected` (its
 * `connection { companyId }` include): one pg statement instead of Prisma's query engine, which
 * cost about a tenth of a 50-service page request's CPU. Any other include (a relation, a
 * connection's `_count`) goes through Prisma as before. The row has Prisma's shape (camelCase
 * fields, `connection` null or `{ companyId }`), so Pothos resolves the fields the same way.
 */
function ownColumnsQuery(query: object): { connection: boolean } | null {
  const keys = Object.keys(query);
  if (keys.length === 0) return { connection: false };
  if (keys.length !== 1 || keys[0] !== "include") return null;
  const include = (query as { include: Record<string, unknown> }).include;
  const names = Object.keys(include);
  if (names.length === 0) return { connection: false };
  const connection = include["connection"] as { select?: Record<string, unknown> } | undefined;
  const onlyCompanyId = connection?.select && Object.keys(connection.select).length === 1 && connection.select["companyId"] === true;
  return names.length === 1 && onlyCompanyId ? { connection: true } : null;
}

type CompanyRow = Pick<PrismaCompany, "id" | "name" | "slug" | "createdAt" | "updatedAt">;

async function companyRow(id: string, withConnection: boolean): Promise<(CompanyRow & { connection?: { companyId: string } | null }) | null> {
  const { rows } = await pool().query<CompanyRow & { connected?: boolean }>(
    `SELECT id, name, slug, created_at AS "createdAt", updated_at AS "updatedAt"${
      withConnection ? ", EXISTS (SELECT 1 FROM calcom_connections cc WHERE cc.company_id = companies.id) AS connected" : ""
    } FROM companies WHERE id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) return null;
  if (!withConnection) return row;
  const { connected, ...company } = row;
  return { ...company, connection: connected ? { companyId: company.id } : null };
}

const CreateCompanyInput = builder.inputType("CreateCompanyInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    slug: t.string({ required: true }),
  }),
});

builder.mutationField("createCompany", (t) =>
  t.prismaField({
    type: "Company",
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateCompanyInput, required: true }) },
    resolve: async (query, _parent, { input }, ctx) => {
      const company = await createCompany(input, actorOf(ctx.principal));
      return db().company.findUniqueOrThrow({ ...query, where: { id: company.id } });
    },
  }),
);
