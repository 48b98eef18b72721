/**
 * The mutations that change one service (create, update, link, unlink, export, reactivate) and
 * their inputs. Each is a thin wrapper over src/orphans/, which checks the caller (a company
 * token acts on its own company only: FORBIDDEN and no change otherwise), writes the audit row and
 * the span.
 */
import { builder } from "./builder.ts";
import { db } from "../db/client.ts";
import { createService, updateService } from "../orphans/services.ts";
import { linkService, unlinkService } from "../orphans/link.ts";
import { exportServiceToCalcom } from "../orphans/export.ts";
import { reactivateService } from "../orphans/legacy.ts";
import { Company } from "./company.ts";
import { NotFoundError } from "./errors.ts";
import { isUuid } from "./ids.ts";
import { Service } from "./service.ts";

const CreateServiceInput = builder.inputType("CreateServiceInput", {
  fields: (t) => ({
    companyId: t.globalID({ required: true, for: Company }),
    name: t.string({ required: true }),
    slug: t.string({ description: "Lowercase letters, digits and dashes; also the Cal.com slug an export starts from." }),
    description: t.string(),
    durationMinutes: t.int(),
    priceMinor: t.int({ description: "Minor units (cents)." }),
    currency: t.string({ description: "ISO 4217, e.g. EUR." }),
    isActive: t.boolean({ description: "Default true." }),
    externalId: t.string({ description: "The service's key in the system the catalogue comes from; unique per company." }),
  }),
});

const UpdateServiceInput = builder.inputType("UpdateServiceInput", {
  description: "Only the fields given change; null clears an optional field. Fields Cal.com owns cannot change while the service is linked.",
  fields: (t) => ({
    name: t.string(),
    slug: t.string(),
    description: t.string(),
    durationMinutes: t.int(),
    priceMinor: t.int(),
    currency: t.string(),
    isActive: t.boolean(),
    externalId: t.string(),
  }),
});

function serviceUuid(id: string): string {
  if (!isUuid(id)) throw new NotFoundError("Service");
  return id;
}

builder.mutationFields((t) => ({
  createService: t.prismaField({
    type: "Service",
    description: "A service not (yet) on Cal.com: NEVER_SYNCED (an orphan while active). CONFLICT when the externalId exists.",
    args: { input: t.arg({ type: CreateServiceInput, required: true }) },
    resolve: async (query, _parent, { input }, ctx) => {
      if (!isUuid(input.companyId.id)) throw new NotFoundError("Company");
      const created = await createService({ ...input, companyId: input.companyId.id }, ctx.principal);
      return db().service.findUniqueOrThrow({ ...query, where: { id: created.id } });
    },
  }),
  updateService: t.prismaField({
    type: "Service",
    args: { id: t.arg.globalID({ required: true, for: Service }), input: t.arg({ type: UpdateServiceInput, required: true }) },
    resolve: async (query, _parent, { id, input }, ctx) => {
      const updated = await updateService(serviceUuid(id.id), input, ctx.principal);
      return db().service.findUniqueOrThrow({ ...query, where: { id: updated.id } });
    },
  }),
  linkService: t.prismaField({
    type: "Service",
    description:
      "Links an orphan to one of the company's Cal.com event types and makes it SYNCED with the event type's data. " +
      "Errors: EVENT_TYPE_NOT_FOUND, EVENT_TYPE_ALREADY_LINKED, ALREADY_LINKED, NOT_CONNECTED. Undo: unlinkService.",
    args: { serviceId: t.arg.globalID({ required: true, for: Service }), calcomEventTypeId: t.arg.int({ required: true }) },
    resolve: async (query, _parent, args, ctx) => {
      const linked = await linkService(serviceUuid(args.serviceId.id), args.calcomEventTypeId, ctx.principal);
      return db().service.findUniqueOrThrow({ ...query, where: { id: linked.id } });
    },
  }),
  unlinkService: t.prismaField({
    type: "Service",
    description:
      "Makes a linked service an orphan again (NEVER_SYNCED); a link calsync made gives back the fields the service had before. " +
      "Nothing is deleted on Cal.com. Error: NOT_LINKED.",
    args: { serviceId: t.arg.globalID({ required: true, for: Service }) },
    resolve: async (query, _parent, args, ctx) => {
      const service = await unlinkService(serviceUuid(args.serviceId.id), ctx.principal);
      return db().service.findUniqueOrThrow({ ...query, where: { id: service.id } });
    },
  }),
  exportServiceToCalcom: t.prismaField({
    type: "Service",
    description:
      "Creates the service's event type on Cal.com (a free slug; the team's when the connection has a team) and links it. " +
      "Safe to retry: a create whose answer was lost is found by its slug and adopted, never made twice.",
    args: { serviceId: t.arg.globalID({ required: true, for: Service }) },
    resolve: async (query, _parent, args, ctx) => {
      const service = await exportServiceToCalcom(serviceUuid(args.serviceId.id), ctx.principal);
      return db().service.findUniqueOrThrow({ ...query, where: { id: service.id } });
    },
  }),
  reactivateService: t.prismaField({
    type: "Service",
    description: "Undoes LEGACY for one service (NEVER_SYNCED, or SYNCED when it is linked). Error: NOT_LEGACY.",
    args: { serviceId: t.arg.globalID({ required: true, for: Service }) },
    resolve: async (query, _parent, args, ctx) => {
      const service = await reactivateService(serviceUuid(args.serviceId.id), ctx.principal);
      return db().service.findUniqueOrThrow({ ...query, where: { id: service.id } });
    },
  }),
}));
