import { Kind, type GraphQLResolveInfo, type SelectionSetNode } from "graphql";
import { PothosValidationError, getConnectionPageSize, validateConnectionArguments } from "@pothos/core";
import { parsePrismaCursor, prismaConnectionHelpers } from "@pothos/plugin-prisma";
import { builder } from "./builder.ts";
import { SERVICE_COLUMNS, servicePage } from "../domain/service-page.ts";
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
  authScopes: (service, ctx) => canSeeCompany(ctx.principal, service.companyId),
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

/**
 * `Company.services`: one statement on the pg pool (see domain/service-page.ts for why and for
 * the invariants it keeps). Arguments, page sizes, cursors and the connection's shape are Pothos'
 * own (`prismaConnectionHelpers` wraps the rows exactly as `relatedConnection` did), so clients'
 * cursors and pages are unchanged.
 */
const servicePageHelpers = prismaConnectionHelpers(builder, Service, { cursor: "id" });

builder.prismaObjectField(Company, "services", (t) =>
  t.connection({
    type: Service,
    args: { filter: t.arg({ type: ServiceFilter }) },
    resolve: async (company, args, ctx, info) => {
      const { before = null, after = null, first = null, last = null } = args;
      validateConnectionArguments({ first, last });
      if (before && after) throw new PothosValidationError('Arguments "before" and "after" are not supported at the same time');
      if (before != null && first != null) throw new PothosValidationError('Arguments "before" and "first" are not supported at the same time');
      if (after != null && last != null) throw new PothosValidationError('Arguments "after" and "last" are not supported at the same time');
      const { limit } = getConnectionPageSize({ args: { first, last } }); // Pothos' defaults, as relatedConnection had
      const cursor = before ?? after;
      const wanted = connectionSelection(info);
      const page = await servicePage({
        companyId: company.id,
        filter: args.filter,
        // `last: 0` asks for the last zero rows, so it pages backwards like any other `last`.
        take: before != null || last != null ? -limit : limit,
        cursorId: cursor == null ? null : (parsePrismaCursor(cursor) as string),
        fields: wanted.nodeFields,
        rows: wanted.rows,
        count: wanted.totalCount,
      });
      return { ...servicePageHelpers.resolve(page.rows as never, args, ctx, company), totalCount: page.totalCount };
    },
  }, {
    name: "ServiceConnection",
    fields: (c) => ({
      totalCount: c.int({ resolve: (connection) => (connection as unknown as { totalCount: number }).totalCount }),
    }),
  }, { name: "ServiceEdge" }),
);

/**
 * What a query asks of a `ServiceConnection`: whether it reads rows (edges, pageInfo) and the
 * count, and which Service fields its nodes read (through fragments and inline fragments; a field
 * under @skip/@include counts as asked, which only loads a column more).
 */
function connectionSelection(info: GraphQLResolveInfo): { rows: boolean; totalCount: boolean; nodeFields: string[] } {
  const connection = subSelections(info.fieldNodes.map((f) => f.selectionSet), info);
  const nodes = subSelections(subSelections(connection.get("edges") ?? [], info).get("node") ?? [], info);
  const nodeFields: string[] = [];
  for (const name of nodes.keys()) {
    if (name === "__typename" || name === "id" || name === "company") continue;
    // A Service field this list does not know would read a column never loaded: load every one.
    if (!(name in SERVICE_COLUMNS)) return { rows: true, totalCount: connection.has("totalCount"), nodeFields: Object.keys(SERVICE_COLUMNS) };
    nodeFields.push(name);
  }
  const rows = [...connection.keys()].some((name) => name !== "totalCount" && name !== "__typename");
  return { rows, totalCount: connection.has("totalCount"), nodeFields };
}

/** The fields selected in these selection sets, by name, with their own selection sets. */
function subSelections(sets: readonly (SelectionSetNode | undefined)[], info: GraphQLResolveInfo): Map<string, SelectionSetNode[]> {
  const out = new Map<string, SelectionSetNode[]>();
  const visit = (set: SelectionSetNode | undefined) => {
    for (const sel of set?.selections ?? []) {
      if (sel.kind === Kind.FIELD) {
        const list = out.get(sel.name.value) ?? [];
        if (sel.selectionSet) list.push(sel.selectionSet);
        out.set(sel.name.value, list);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) visit(sel.selectionSet);
      else visit(info.fragments[sel.name.value]?.selectionSet);
    }
  };
  for (const set of sets) visit(set);
  return out;
}

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
