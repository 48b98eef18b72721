import { builder } from "./builder.ts";
import { Company } from "./company.ts";
import { coverageReport, type Coverage, type CoverageReport } from "../domain/coverage.ts";

export const CoverageRef = builder.objectRef<Coverage>("Coverage").implement({
  fields: (t) => ({
    totalServices: t.exposeInt("totalServices"),
    activeServices: t.exposeInt("activeServices"),
    syncedServices: t.exposeInt("syncedServices"),
    pendingServices: t.exposeInt("pendingServices"),
    erroredServices: t.exposeInt("erroredServices"),
    neverSyncedServices: t.exposeInt("neverSyncedServices", {
      description: "Active services without a Cal.com event type: orphaned.",
    }),
    legacyServices: t.exposeInt("legacyServices"),
    remoteDeletedServices: t.exposeInt("remoteDeletedServices"),
    coveragePercent: t.exposeFloat("coveragePercent", { description: "synced / active * 100; 0 when none active." }),
    lastSyncedAt: t.expose("lastSyncedAt", { type: "DateTime", nullable: true }),
  }),
});

type CompanyCoverage = CoverageReport["companies"][number];

const CompanyCoverageRef = builder.objectRef<CompanyCoverage>("CompanyCoverage").implement({
  fields: (t) => ({
    // The aggregate's row carries the company's columns (no query per company). Fields that need
    // more (calcomConnected, relations) are loaded by Pothos' fallback, batched per request.
    // `Company` is read inside this thunk only: company.ts imports this file too.
    company: t.field({ type: Company, resolve: (row) => row.company }),
    coverage: t.field({ type: CoverageRef, resolve: (row) => row.coverage }),
  }),
});

export const CoverageReportRef = builder.objectRef<CoverageReport>("CoverageReport").implement({
  fields: (t) => ({
    totalCompanies: t.exposeInt("totalCompanies"),
    companiesUsingCalcom: t.exposeInt("companiesUsingCalcom"),
    totals: t.field({ type: CoverageRef, resolve: (r) => r.totals }),
    companies: t.field({ type: [CompanyCoverageRef], resolve: (r) => r.companies }),
  }),
});

builder.queryField("coverageReport", (t) =>
  t.field({
    type: CoverageReportRef,
    resolve: (_parent, _args, ctx) =>
      coverageReport(ctx.principal.kind === "admin" ? null : [ctx.principal.companyId]),
  }),
);
