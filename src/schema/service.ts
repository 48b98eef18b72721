import { builder } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import { db } from "../db/client.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { SyncStatus } from "../generated/prisma/enums.ts";
import { requestServiceSync } from "../sync/service-sync.ts";
import { Company } from "./company.ts";
import { ForbiddenError, NotFoundError, UserInputError } from "./errors.ts";
import { isUuid } from "./ids.ts";

export const SyncStatusEnum = builder.enumType(SyncStatus, { name: "SyncStatus" });

export const Service = builder.prismaNode("Service", {
  id: { field: "id" },
  authScopes: (service) => ({ company: service.companyId }),
  fields: (t) => ({
    company: t.relation("company"),
    name: t.exposeString("name"),
    slug: t.exposeString("slug", { nullable: true }),
    description: t.exposeString("description", { nullable: true }),
    durationMinutes: t.exposeInt("durationMinutes", { nullable: true }),
    priceMinor: t.exposeInt("priceMinor", { nullable: true }),
    currency: t.exposeString("currency", { nullable: true }),
    isActive: t.exposeBoolean("isActive"),
    hidden: t.exposeBoolean("hidden"),
    calcomEventTypeId: t.exposeInt("calcomEventTypeId", { nullable: true }),
    syncStatus: t.expose("syncStatus", { type: SyncStatusEnum }),
    lastCalcomSync: t.expose("lastCalcomSync", { type: "DateTime", nullable: true }),
    syncError: t.exposeString("syncError", { nullable: true }),
    locations: t.expose("locations", { type: "JSON", nullable: true }),
    bookingFields: t.expose("bookingFields", { type: "JSON", nullable: true }),
    metadata: t.expose("metadata", { type: "JSON", nullable: true }),
    externalId: t.exposeString("externalId", { nullable: true, description: "The key in the system the catalogue comes from (imports match on it)." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

export const ServiceFilter = builder.inputType("ServiceFilter", {
  fields: (t) => ({
    syncStatus: t.field({ type: [SyncStatusEnum] }),
    isActive: t.boolean(),
    search: t.string({ description: "Case-insensitive match on name or slug." }),
  }),
});

type ServiceFilterShape = typeof ServiceFilter.$inferInput;

export function serviceFilterWhere(filter: ServiceFilterShape | null | undefined): Prisma.ServiceWhereInput {
  const where: Prisma.ServiceWhereInput = {};
  if (filter?.syncStatus?.length) where.syncStatus = { in: filter.syncStatus };
  if (filter?.isActive !== null && filter?.isActive !== undefined) where.isActive = filter.isActive;
  const search = filter?.search?.trim();
  if (search) {
    where.OR = [
      { name: { contains: search, mode: "insensitive" } },
      { slug: { contains: search, mode: "insensitive" } },
    ];
  }
  return where;
}

builder.prismaObjectField(Company, "services", (t) =>
  t.relatedConnection("services", {
    cursor: "id",
    totalCount: true,
    args: { filter: t.arg({ type: ServiceFilter }) },
    query: (args) => ({ where: serviceFilterWhere(args.filter), orderBy: [{ name: "asc" }, { id: "asc" }] }),
  }, { name: "ServiceConnection" }, { name: "ServiceEdge" }),
);

builder.queryField("service", (t) =>
  t.prismaField({
    type: "Service",
    nullable: true,
    args: { id: t.arg.globalID({ required: true, for: Service }) },
    resolve: (query, _parent, args) =>
      isUuid(args.id.id) ? db().service.findUnique({ ...query, where: { id: args.id.id } }) : null,
  }),
);

builder.mutationField("syncService", (t) =>
  t.prismaField({
    type: "Service",
    description: "Marks the service PENDING and queues a refresh of its Cal.com event type (404 there makes it REMOTE_DELETED).",
    args: { serviceId: t.arg.globalID({ required: true, for: Service }) },
    resolve: async (query, _parent, args, ctx) => {
      const serviceId = args.serviceId.id;
      if (!isUuid(serviceId)) throw new NotFoundError("Service");
      const service = await db().service.findUnique({
        where: { id: serviceId },
        select: { companyId: true, calcomEventTypeId: true, company: { select: { connection: { select: { companyId: true } } } } },
      });
      if (!service) throw new NotFoundError("Service");
      if (!canSeeCompany(ctx.principal, service.companyId)) throw new ForbiddenError();
      if (service.calcomEventTypeId === null) {
        throw new UserInputError("The service has no Cal.com event type to sync from (link or export it first).", "serviceId");
      }
      if (!service.company.connection) {
        throw new UserInputError("The company is not connected to Cal.com: call connectCalcom first.", "serviceId");
      }
      await requestServiceSync(serviceId, service.companyId, service.calcomEventTypeId);
      return db().service.findUniqueOrThrow({ ...query, where: { id: serviceId } });
    },
  }),
);
