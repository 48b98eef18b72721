import { builder } from "./builder.ts";
import { db } from "../db/client.ts";
import { actorOf, audit } from "../domain/audit.ts";
import { WebhookEventStatus } from "../generated/prisma/enums.ts";
import { requeueWebhookEvent } from "../webhooks/inbox.ts";
import { Company } from "./company.ts";
import { NotFoundError, UserInputError } from "./errors.ts";
import { isUuid } from "./ids.ts";

export const WebhookEventStatusEnum = builder.enumType(WebhookEventStatus, { name: "WebhookEventStatus" });

export const WebhookEvent = builder.prismaNode("WebhookEvent", {
  id: { field: "id" },
  // Unmatched events (no company) are visible to the admin token only.
  authScopes: (event) => (event.companyId ? { company: event.companyId } : { admin: true }),
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
  }),
});

builder.prismaObjectField(Company, "webhookEvents", (t) =>
  t.relatedConnection("webhookEvents", {
    cursor: "id",
    totalCount: true,
    args: {
      status: t.arg({ type: WebhookEventStatusEnum }),
      triggerEvent: t.arg.string(),
    },
    query: (args) => ({
      where: {
        ...(args.status ? { status: args.status } : {}),
        ...(args.triggerEvent ? { triggerEvent: args.triggerEvent } : {}),
      },
      orderBy: [{ receivedAt: "desc" }, { id: "desc" }],
    }),
  }, { name: "WebhookEventConnection" }, { name: "WebhookEventEdge" }),
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

builder.mutationField("retryWebhookEvent", (t) =>
  t.prismaField({
    type: "WebhookEvent",
    description: "Re-enqueues a FAILED (or stuck RECEIVED) event; it continues the event's own trace.",
    args: { id: t.arg.globalID({ required: true, for: WebhookEvent }) },
    // The event's company decides; an unmatched event is the admin's; an unknown id is NOT_FOUND.
    authScopes: async (_parent, args) => {
      if (!isUuid(args.id.id)) return true;
      const event = await db().webhookEvent.findUnique({ where: { id: args.id.id }, select: { companyId: true } });
      if (!event) return true;
      return event.companyId ? { company: event.companyId } : { admin: true };
    },
    resolve: async (query, _parent, args, ctx) => {
      if (!isUuid(args.id.id)) throw new NotFoundError("WebhookEvent");
      await requeueWebhookEvent(args.id.id, actorOf(ctx.principal));
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
    authScopes: async (_parent, args) => {
      if (!isUuid(args.id.id)) return true;
      const event = await db().webhookEvent.findUnique({ where: { id: args.id.id }, select: { companyId: true } });
      if (!event) return true;
      return event.companyId ? { company: event.companyId } : { admin: true };
    },
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
