import DataLoader from "dataloader";
import { createContextCache } from "@pothos/core";
import { builder, type Context } from "./builder.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { db } from "../db/client.ts";
import { createCompany } from "../domain/companies.ts";
import { actorOf } from "../domain/audit.ts";
import { coverageByCompany, type Coverage } from "../domain/coverage.ts";
import { CoverageRef } from "./coverage.ts";
import { isUuid } from "./ids.ts";

export const Company = builder.prismaNode("Company", {
  id: { field: "id" },
  authScopes: (company) => ({ company: company.id }),
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
    resolve: (query, _parent, args) =>
      isUuid(args.id.id) ? db().company.findUnique({ ...query, where: { id: args.id.id } }) : null,
  }),
}));

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
