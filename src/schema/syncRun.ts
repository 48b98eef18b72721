import { builder } from "./builder.ts";
import { db } from "../db/client.ts";
import { SyncRunStatus, SyncTrigger } from "../generated/prisma/enums.ts";
import { Company } from "./company.ts";
import { isUuid } from "./ids.ts";

export const SyncTriggerEnum = builder.enumType(SyncTrigger, { name: "SyncTrigger" });
export const SyncRunStatusEnum = builder.enumType(SyncRunStatus, { name: "SyncRunStatus" });

export const SyncRun = builder.prismaNode("SyncRun", {
  id: { field: "id" },
  authScopes: (run) => ({ company: run.companyId }),
  fields: (t) => ({
    company: t.relation("company"),
    trigger: t.expose("trigger", { type: SyncTriggerEnum }),
    status: t.expose("status", { type: SyncRunStatusEnum }),
    queuedAt: t.expose("queuedAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    fetched: t.exposeInt("fetched"),
    created: t.exposeInt("created"),
    updated: t.exposeInt("updated"),
    unchanged: t.exposeInt("unchanged"),
    remoteDeleted: t.exposeInt("remoteDeleted"),
    progress: t.exposeFloat("progress", { description: "From 0 (queued) to 1 (finished)." }),
    attempts: t.exposeInt("attempts"),
    error: t.exposeString("error", { nullable: true }),
    correlationId: t.exposeString("correlationId"),
    traceId: t.exposeString("traceId", { nullable: true }),
  }),
});

builder.prismaObjectFields(Company, (t) => ({
  lastSyncRun: t.prismaField({
    type: "SyncRun",
    nullable: true,
    resolve: (query, company) =>
      db().syncRun.findFirst({ ...query, where: { companyId: company.id }, orderBy: [{ queuedAt: "desc" }, { id: "desc" }] }),
  }),
  syncRuns: t.relatedConnection("syncRuns", {
    cursor: "id",
    totalCount: true,
    query: () => ({ orderBy: [{ queuedAt: "desc" }, { id: "desc" }] }),
  }),
}));

builder.queryField("syncRun", (t) =>
  t.prismaField({
    type: "SyncRun",
    nullable: true,
    args: { id: t.arg.globalID({ required: true, for: SyncRun }) },
    resolve: (query, _parent, args) =>
      isUuid(args.id.id) ? db().syncRun.findUnique({ ...query, where: { id: args.id.id } }) : null,
  }),
);
