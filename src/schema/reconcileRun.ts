import { builder, type Context } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import { db } from "../db/client.ts";
import { ReconcileTrigger } from "../generated/prisma/enums.ts";
import { requestReconcile } from "../reconcile/runs.ts";
import { Company } from "./company.ts";
import { NotFoundError, UserInputError } from "./errors.ts";
import { isUuid } from "./ids.ts";
import { SyncRunStatusEnum } from "./syncRun.ts";
import { WebhookEvent, WebhookEventSourceEnum } from "./webhookEvent.ts";

export const ReconcileTriggerEnum = builder.enumType(ReconcileTrigger, {
  name: "ReconcileTrigger",
  description: "MANUAL (reconcileBookings, `calsync reconcile`), SCHEDULED (RECONCILE_CRON), STARTUP (a worker started: covers the time calsync was down).",
});

export const ReconcileRun = builder.prismaNode("ReconcileRun", {
  id: { field: "id" },
  description: "One pass over the company's Cal.com bookings changed in [since, until], compared with calsync's.",
  authScopes: (run, ctx) => canSeeCompany(ctx.principal, run.companyId),
  fields: (t) => ({
    company: t.relation("company"),
    trigger: t.expose("trigger", { type: ReconcileTriggerEnum }),
    status: t.expose("status", { type: SyncRunStatusEnum }),
    since: t.expose("since", {
      type: "DateTime",
      nullable: true,
      description: "Bookings changed at or after this instant are compared (null until the run starts when not given: then the watermark).",
    }),
    until: t.expose("until", { type: "DateTime", nullable: true, description: "…and before this one (when the run started)." }),
    queuedAt: t.expose("queuedAt", { type: "DateTime" }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true }),
    durationMs: t.exposeInt("durationMs", { nullable: true }),
    pages: t.exposeInt("pages", { description: "Pages requested from Cal.com." }),
    fetched: t.exposeInt("fetched", { description: "Bookings listed by Cal.com in the window." }),
    recovered: t.exposeInt("recovered", { description: "Bookings calsync did not have (missed webhooks), now recorded." }),
    updated: t.exposeInt("updated", { description: "Bookings calsync had whose cancellation, reschedule or change it had missed, now applied." }),
    unchanged: t.exposeInt("unchanged", { description: "Bookings already equal, or where calsync holds a newer or final state." }),
    attempts: t.exposeInt("attempts"),
    error: t.exposeString("error", { nullable: true }),
    errorClass: t.exposeString("errorClass", { nullable: true, description: "InvalidCredentials, Unavailable, RateLimited, BadResponse, NotConnected, …" }),
    correlationId: t.exposeString("correlationId"),
    traceId: t.exposeString("traceId", { nullable: true }),
    events: t.relatedConnection(
      "events",
      { cursor: "id", totalCount: true, description: "The inbox events (source RECONCILE) this run recorded.", query: () => ({ orderBy: [{ receivedAt: "asc" }, { id: "asc" }] }) },
      { name: "ReconcileRunEventConnection" },
      { name: "ReconcileRunEventEdge" },
    ),
  }),
});

/** Missed webhooks recovered (bookings recovered + changes applied) in retained runs since `since`. */
async function recoveredSince(companyIds: string[] | null, since: Date | null | undefined): Promise<number> {
  const sum = await db().reconcileRun.aggregate({
    _sum: { recovered: true, updated: true },
    where: { ...(companyIds ? { companyId: { in: companyIds } } : {}), ...(since ? { queuedAt: { gte: since } } : {}) },
  });
  return (sum._sum.recovered ?? 0) + (sum._sum.updated ?? 0);
}

builder.prismaObjectFields(Company, (t) => ({
  lastReconcileRun: t.prismaField({
    type: "ReconcileRun",
    nullable: true,
    resolve: (query, company) =>
      db().reconcileRun.findFirst({ ...query, where: { companyId: company.id }, orderBy: [{ queuedAt: "desc" }, { id: "desc" }] }),
  }),
  reconcileRuns: t.relatedConnection("reconcileRuns", {
    cursor: "id",
    totalCount: true,
    query: () => ({ orderBy: [{ queuedAt: "desc" }, { id: "desc" }] }),
  }, { name: "ReconcileRunConnection" }, { name: "ReconcileRunEdge" }),
  missedWebhooksRecovered: t.int({
    description:
      "Booking changes Cal.com made that no webhook brought, recovered by reconciliation (within the runs retention keeps, RUN_RETENTION_DAYS).",
    args: { since: t.arg({ type: "DateTime", description: "Only runs queued at or after this instant." }) },
    resolve: (company, args) => recoveredSince([company.id], args.since),
  }),
}));

function visibleCompanyIds(ctx: Context): string[] | null {
  return ctx.principal.kind === "admin" ? null : [ctx.principal.companyId];
}

builder.queryFields((t) => ({
  reconcileRun: t.prismaField({
    type: "ReconcileRun",
    nullable: true,
    args: { id: t.arg.globalID({ required: true, for: ReconcileRun }) },
    resolve: (query, _parent, args) =>
      isUuid(args.id.id) ? db().reconcileRun.findUnique({ ...query, where: { id: args.id.id } }) : null,
  }),
  missedWebhooksRecovered: t.int({
    description: "missedWebhooksRecovered over every company the token sees (the admin: all).",
    args: { since: t.arg({ type: "DateTime" }) },
    resolve: (_root, args, ctx) => recoveredSince(visibleCompanyIds(ctx), args.since),
  }),
}));

builder.mutationField("reconcileBookings", (t) =>
  t.prismaField({
    type: "ReconcileRun",
    description:
      "Queues a reconcile of the company's bookings with Cal.com's (changed since `since`, Default: the watermark of the last complete pass), or returns the run already queued or running (one per company).",
    args: {
      companyId: t.arg.globalID({ required: true, for: Company }),
      since: t.arg({ type: "DateTime" }),
    },
    authScopes: (_parent, args) => ({ company: args.companyId.id }),
    resolve: async (query, _parent, args) => {
      const companyId = args.companyId.id;
      if (!isUuid(companyId)) throw new NotFoundError("Company");
      if (args.since && args.since.getTime() > Date.now()) throw new UserInputError("since must not be in the future.", "since");
      const company = await db().company.findUnique({ where: { id: companyId }, select: { connection: { select: { companyId: true } } } });
      if (!company) throw new NotFoundError("Company");
      if (!company.connection) throw new UserInputError("The company is not connected to Cal.com: call connectCalcom first.", "companyId");
      const { run } = await requestReconcile(companyId, "MANUAL", args.since ?? null);
      return db().reconcileRun.findUniqueOrThrow({ ...query, where: { id: run.id } });
    },
  }),
);

builder.prismaObjectFields(WebhookEvent, (t) => ({
  source: t.expose("source", { type: WebhookEventSourceEnum }),
  reconcileRun: t.relation("reconcileRun", { nullable: true }),
}));
