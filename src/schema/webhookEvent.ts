import { builder } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import { db } from "../db/client.ts";
import { actorOf, audit } from "../domain/audit.ts";
import { WebhookEventSource, WebhookEventStatus } from "../generated/prisma/enums.ts";
import { retryWebhookEvent } from "../domain/webhook-events.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import type { Context } from "./builder.ts";
import { Company } from "./company.ts";
import { NotFoundError, UserInputError } from "./errors.ts";
import { isUuid } from "./ids.ts";

export const WebhookEventStatusEnum = builder.enumType(WebhookEventStatus, { name: "WebhookEventStatus" });

export const WebhookEventSourceEnum = builder.enumType(WebhookEventSource, {
  name: "WebhookEventSource",
  description: "WEBHOOK: a signed Cal.com delivery. RECONCILE: a booking change no delivery brought, found in Cal.com's bookings API (a missed webhook recovered).",
});

export const WebhookEvent = builder.prismaNode("WebhookEvent", {
  id: { field: "id" },
  // Unmatched events (no company) are visible to the admin token only.
  authScopes: (event, ctx) => (event.companyId ? canSeeCompany(ctx.principal, event.companyId) : ctx.principal.kind === "admin"),
  fields: (t) => ({
    company: t.relation("company", { nullable: true }),
    triggerEvent: t.exposeString("triggerEvent"),
    status: t.expose("status", { type: WebhookEventStatusEnum }),
    receivedAt: t.expose("receivedAt", { type: "DateTime" }),
    processedAt: t.expose("processedAt", { type: "DateTime", nullable: true }),
    attempts: t.exposeInt("attempts"),
    lastError: t.exposeString("lastError", { nullable: true }),
    duplicateCount: t.exposeInt("duplicateCount"),
    correlationId: t.exposeString("correlationId"),
    traceId: t.exposeString("traceId", { nullable: true }),
    payload: t.field({
      type: "JSON",
      nullable: true,
      select: { payload: true, rawBody: true },
      description: "The delivered JSON; for a signed body that was not JSON, {\"raw\": \"…\"}.",
      resolve: (e) => e.payload ?? (e.rawBody === null ? null : { raw: e.rawBody }),
    }),
    rawBodyBase64: t.string({
      nullable: true,
      select: { rawBytes: true },
      description:
        "The exact signed bytes (base64), kept when `payload` is not a faithful copy of them: a body with NUL characters, lone surrogates, nesting or numbers PostgreSQL's jsonb refuses, or one that is not UTF-8. Null when `payload` is the body as sent.",
      resolve: (e) => (e.rawBytes === null ? null : Buffer.from(e.rawBytes).toString("base64")),
    }),
  }),
});

/** One connection type for `Company.webhookEvents` and `Query.webhookEvents`. */
const WebhookEventConnection = builder.connectionObject(
  {
    type: WebhookEvent,
    name: "WebhookEventConnection",
    fields: (t) => ({
      totalCount: t.int({
        resolve: (connection) => {
          const { totalCount } = connection as { totalCount?: number | (() => number | Promise<number>) };
          return typeof totalCount === "function" ? totalCount() : (totalCount ?? 0);
        },
      }),
    }),
  },
  { name: "WebhookEventEdge" },
);

function eventFilter(args: {
  status?: WebhookEventStatus | null | undefined;
  triggerEvent?: string | null | undefined;
  source?: WebhookEventSource | null | undefined;
}): Prisma.WebhookEventWhereInput {
  return {
    ...(args.status ? { status: args.status } : {}),
    ...(args.triggerEvent ? { triggerEvent: args.triggerEvent } : {}),
    ...(args.source ? { source: args.source } : {}),
  };
}

/** The admin sees every event (UNMATCHED ones too); a company token its own company's. */
function visibleEvents(ctx: Context): Prisma.WebhookEventWhereInput {
  return ctx.principal.kind === "admin" ? {} : { companyId: ctx.principal.companyId };
}

builder.prismaObjectField(Company, "webhookEvents", (t) =>
  t.relatedConnection("webhookEvents", {
    cursor: "id",
    totalCount: true,
    args: {
      status: t.arg({ type: WebhookEventStatusEnum }),
      triggerEvent: t.arg.string(),
      source: t.arg({ type: WebhookEventSourceEnum, description: "RECONCILE: only the missed webhooks reconciliation recovered." }),
    },
    query: (args) => ({
      where: eventFilter(args),
      orderBy: [{ receivedAt: "desc" }, { id: "desc" }],
    }),
  }, WebhookEventConnection),
);

builder.queryField("webhookEvents", (t) =>
  t.prismaConnection({
    type: "WebhookEvent",
    cursor: "id",
    description: "Webhook events, newest first. The admin token sees every company's and the UNMATCHED ones (no company); a company token its own company's.",
    args: {
      status: t.arg({ type: WebhookEventStatusEnum }),
      triggerEvent: t.arg.string(),
      source: t.arg({ type: WebhookEventSourceEnum, description: "RECONCILE: only the missed webhooks reconciliation recovered." }),
    },
    totalCount: (_parent, args, ctx) => db().webhookEvent.count({ where: { ...visibleEvents(ctx), ...eventFilter(args) } }),
    resolve: (query, _parent, args, ctx) =>
      db().webhookEvent.findMany({
        ...query,
        where: { ...visibleEvents(ctx), ...eventFilter(args) },
        orderBy: [{ receivedAt: "desc" }, { id: "desc" }],
      }),
  }, WebhookEventConnection),
);

builder.queryField("webhookEvent", (t) =>
  t.prismaField({
    type: "WebhookEvent",
    nullable: true,
    args: { id: t.arg.globalID({ required: true, for: WebhookEvent }) },
    resolve: (query, _parent, args) =>
      isUuid(args.id.id) ? db().webhookEvent.findUnique({ ...query, where: { id: args.id.id } }) : null,
  }),
);

/**
 * Who may act on one event: its company, or the admin for an unmatched one. A malformed or
 * unknown id passes here so the resolver answers NOT_FOUND rather than FORBIDDEN.
 */
async function eventOwnerScope(id: string): Promise<true | { company: string } | { admin: true }> {
  if (!isUuid(id)) return true;
  const event = await db().webhookEvent.findUnique({ where: { id }, select: { companyId: true } });
  if (!event) return true;
  return event.companyId ? { company: event.companyId } : { admin: true };
}

builder.mutationField("retryWebhookEvent", (t) =>
  t.prismaField({
    type: "WebhookEvent",
    description:
      "Re-enqueues a FAILED (or stuck RECEIVED) event, continuing the event's own trace; an UNMATCHED event is matched again (by event type, booking uid or booking id) and processed once it names a company.",
    args: { id: t.arg.globalID({ required: true, for: WebhookEvent }) },
    // The event's company decides; an unmatched event is the admin's; an unknown id is NOT_FOUND.
    authScopes: (_parent, args) => eventOwnerScope(args.id.id),
    resolve: async (query, _parent, args, ctx) => {
      if (!isUuid(args.id.id)) throw new NotFoundError("WebhookEvent");
      await retryWebhookEvent(args.id.id, actorOf(ctx.principal));
      return db().webhookEvent.findUniqueOrThrow({ ...query, where: { id: args.id.id } });
    },
  }),
);

const RESOLVABLE = ["FAILED", "INVALID", "UNMATCHED"] as const;

builder.prismaObjectField(WebhookEvent, "resolvedAt", (t) =>
  t.expose("resolvedAt", {
    type: "DateTime",
    nullable: true,
    description: "When an operator marked this FAILED, INVALID or UNMATCHED event as dealt with (resolveWebhookEvent); retention keeps unresolved ones.",
  }),
);

builder.mutationField("resolveWebhookEvent", (t) =>
  t.prismaField({
    type: "WebhookEvent",
    description:
      "Marks a FAILED, INVALID or UNMATCHED event as dealt with (audited), so retention may delete it after WEBHOOK_RETENTION_DAYS like a processed one. Unresolved, such events are kept whatever their age.",
    args: { id: t.arg.globalID({ required: true, for: WebhookEvent }) },
    authScopes: (_parent, args) => eventOwnerScope(args.id.id),
    resolve: async (query, _parent, args, ctx) => {
      if (!isUuid(args.id.id)) throw new NotFoundError("WebhookEvent");
      const event = await db().webhookEvent.findUnique({ where: { id: args.id.id }, select: { companyId: true, status: true, resolvedAt: true } });
      if (!event) throw new NotFoundError("WebhookEvent");
      if (!(RESOLVABLE as readonly string[]).includes(event.status)) {
        throw new UserInputError(`Only FAILED, INVALID or UNMATCHED events can be resolved; this one is ${event.status}.`, "id");
      }
      if (!event.resolvedAt) {
        await db().$transaction(async (tx) => {
          await tx.webhookEvent.update({ where: { id: args.id.id }, data: { resolvedAt: new Date() } });
          if (event.companyId) await audit(event.companyId, actorOf(ctx.principal), "webhook_event.resolved", { eventId: args.id.id, status: event.status }, tx);
        });
      }
      return db().webhookEvent.findUniqueOrThrow({ ...query, where: { id: args.id.id } });
    },
  }),
);
