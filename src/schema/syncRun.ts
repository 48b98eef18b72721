import { Repeater } from "graphql-yoga";
import { builder, type Context } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import { db } from "../db/client.ts";
import type { SyncRun as SyncRunRow } from "../generated/prisma/client.ts";
import { SyncRunStatus, SyncTrigger } from "../generated/prisma/enums.ts";
import { watchRun } from "../sync/run-events.ts";
import { isTerminal, requestSync } from "../sync/runs.ts";
import { Company } from "./company.ts";
import { ForbiddenError, NotFoundError, UserInputError } from "./errors.ts";
import { isUuid } from "./ids.ts";

export const SyncTriggerEnum = builder.enumType(SyncTrigger, { name: "SyncTrigger" });
export const SyncRunStatusEnum = builder.enumType(SyncRunStatus, { name: "SyncRunStatus" });

interface SyncSkipShape {
  calcomEventTypeId: number | null;
  title: string | null;
  reason: string;
}

const SyncSkip = builder.objectRef<SyncSkipShape>("SyncSkip").implement({
  description: "A Cal.com event type the sync could not store (malformed, or a value its column cannot hold), and why.",
  fields: (t) => ({
    calcomEventTypeId: t.exposeInt("calcomEventTypeId", { nullable: true }),
    title: t.exposeString("title", { nullable: true }),
    reason: t.exposeString("reason"),
  }),
});

function skipsOf(value: unknown): SyncSkipShape[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((v: unknown) => {
    if (!v || typeof v !== "object") return [];
    const o = v as Record<string, unknown>;
    return typeof o["reason"] === "string"
      ? [{
          calcomEventTypeId: typeof o["calcomEventTypeId"] === "number" ? o["calcomEventTypeId"] : null,
          title: typeof o["title"] === "string" ? o["title"] : null,
          reason: o["reason"],
        }]
      : [];
  });
}

interface SyncHoldShape {
  companyId: string;
  calcomEventTypeId: number;
  title: string;
  serviceId: string;
  score: number;
}

const SyncHold = builder.objectRef<SyncHoldShape>("SyncHold").implement({
  description:
    "An unlinked Cal.com event type the sync did not import because an orphaned service may be the same offer: " +
    "link the service to it (linkService, acceptLinkSuggestions), export the service, or mark it legacy, and the next sync imports what is left.",
  fields: (t) => ({
    calcomEventTypeId: t.exposeInt("calcomEventTypeId"),
    title: t.exposeString("title"),
    service: t.prismaField({
      type: "Service",
      nullable: true,
      description: "The orphan that wants the event type most (null if it no longer exists).",
      resolve: async (query, hold) => {
        const service = await db().service.findUnique({ ...query, where: { id: hold.serviceId } });
        return service?.companyId === hold.companyId ? service : null;
      },
    }),
    score: t.exposeFloat("score", {
      description: "The orphan's link-suggestion score for the event type, 0 to 1; 0 when the company had too many orphan × event type pairs to score them (then every unlinked event type is held).",
    }),
  }),
});

function holdsOf(companyId: string, value: unknown): SyncHoldShape[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((v: unknown) => {
    if (!v || typeof v !== "object") return [];
    const o = v as Record<string, unknown>;
    const { calcomEventTypeId, title, serviceId, score } = o;
    return typeof calcomEventTypeId === "number" && typeof title === "string" && typeof serviceId === "string" && typeof score === "number"
      ? [{ companyId, calcomEventTypeId, title, serviceId, score }]
      : [];
  });
}

export const SyncRun = builder.prismaNode("SyncRun", {
  id: { field: "id" },
  authScopes: (run, ctx) => canSeeCompany(ctx.principal, run.companyId),
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
    skipped: t.exposeInt("skipped", {
      description: "Event types of the listing skipped because they cannot be stored; the others were synced.",
    }),
    skips: t.field({
      type: [SyncSkip],
      select: { skips: true },
      description: "Why each event type was skipped (the first 100).",
      resolve: (run) => skipsOf(run.skips),
    }),
    heldForLinking: t.exposeInt("heldForLinking", {
      description: "Unlinked event types not imported because an orphaned service may be the same offer (see holds).",
    }),
    holds: t.field({
      type: [SyncHold],
      select: { holds: true, companyId: true },
      description: "The event types held for orphans, with the orphan that wants each most (the first 100).",
      resolve: (run) => holdsOf(run.companyId, run.holds),
    }),
    progress: t.exposeFloat("progress", { description: "From 0 (queued) to 1 (finished)." }),
    attempts: t.exposeInt("attempts"),
    error: t.exposeString("error", { nullable: true }),
    errorClass: t.exposeString("errorClass", {
      nullable: true,
      description: "Why a run failed, as a stable name: InvalidCredentials, Unavailable, RateLimited, BadResponse, TooManyRemoteDeletions, NotConnected, …",
    }),
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
  }, { name: "SyncRunConnection" }, { name: "SyncRunEdge" }),
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

builder.mutationField("syncCompany", (t) =>
  t.prismaField({
    type: "SyncRun",
    description:
      "Queues a full sync of the company's Cal.com event types, or returns the run already queued or running (one per company).",
    args: {
      companyId: t.arg.globalID({ required: true, for: Company }),
      force: t.arg.boolean({
        description: "Apply the listing even if it marks more than half of the linked services REMOTE_DELETED (Default: false).",
      }),
    },
    authScopes: (_parent, args) => ({ company: args.companyId.id }),
    resolve: async (query, _parent, args) => {
      const companyId = args.companyId.id;
      if (!isUuid(companyId)) throw new NotFoundError("Company");
      const company = await db().company.findUnique({
        where: { id: companyId },
        select: { connection: { select: { companyId: true } } },
      });
      if (!company) throw new NotFoundError("Company");
      if (!company.connection) {
        throw new UserInputError("The company is not connected to Cal.com: call connectCalcom first.", "companyId");
      }
      const { run } = await requestSync(companyId, "MANUAL", { force: args.force ?? false });
      return db().syncRun.findUniqueOrThrow({ ...query, where: { id: run.id } });
    },
  }),
);

/** Without a notification (e.g. while the listening connection reconnects), re-read this often. */
const PROGRESS_POLL_MS = 5_000;

function runSignature(run: SyncRunRow): string {
  return [run.status, run.progress, run.fetched, run.created, run.updated, run.unchanged, run.remoteDeleted, run.attempts, run.error].join("|");
}

/**
 * The run now, then again each time it changes (NOTIFY from whichever process runs it), until it
 * has finished. The LISTEN is in place before the first read, so no change can fall in between.
 */
async function runUpdates(id: string, ctx: Context): Promise<AsyncIterable<SyncRunRow>> {
  let dirty = false;
  let wake: (() => void) | undefined;
  const unwatch = await watchRun(id, () => {
    dirty = true;
    wake?.();
  });
  let first: SyncRunRow | null;
  try {
    first = await db().syncRun.findUnique({ where: { id } });
    if (!first) throw new NotFoundError("SyncRun");
    if (!canSeeCompany(ctx.principal, first.companyId)) throw new ForbiddenError();
  } catch (err) {
    unwatch();
    throw err;
  }
  let run: SyncRunRow = first;
  return new Repeater<SyncRunRow>(async (push, stop) => {
    let stopped = false;
    void stop.then(() => {
      stopped = true;
      wake?.();
    });
    try {
      let last = "";
      for (;;) {
        const signature = runSignature(run);
        if (signature !== last) {
          last = signature;
          await push(run);
        }
        if (stopped || isTerminal(run.status)) return;
        if (!dirty) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, PROGRESS_POLL_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
        dirty = false;
        if (stopped) return;
        const next = await db().syncRun.findUnique({ where: { id } });
        if (!next) return;
        run = next;
      }
    } finally {
      unwatch();
      stop(); // a Repeater ends only when stopped, not when its executor returns
    }
  });
}

builder.subscriptionField("syncRunProgress", (t) =>
  t.field({
    type: SyncRun,
    description: "The run now, then on every change of its progress, counts or status; completes once it has finished.",
    args: { id: t.arg.globalID({ required: true, for: SyncRun }) },
    subscribe: (_root, args, ctx) => {
      if (!isUuid(args.id.id)) throw new NotFoundError("SyncRun");
      return runUpdates(args.id.id, ctx);
    },
    resolve: (run) => run,
  }),
);
