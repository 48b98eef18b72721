/**
 * Linking a service to a Cal.com event type, undoing it, and accepting suggestions in bulk.
 *
 * Invariants:
 * - an event type is linked to at most one service of a company (the unique index on
 *   (company_id, calcom_event_type_id) holds it even against concurrent calls, which then answer
 *   EVENT_TYPE_ALREADY_LINKED);
 * - a link is checked against Cal.com (the event type must be the company's: the team's when the
 *   connection has a team) and makes the service SYNCED with the event type's data, exactly as
 *   the sync would store it (same projection, same content hash);
 * - every link and unlink writes one audit row with the service before and after;
 * - `unlinkService` makes the service an orphan again (NEVER_SYNCED, no Cal.com id) and, when
 *   calsync made the link (the audit trail has its `service.linked`/`service.exported` row),
 *   gives the service back the fields it had before; it never deletes anything on Cal.com;
 * - `acceptLinkSuggestions` with dryRun links nothing; without, it links every accepted
 *   suggestion in ONE transaction, or none (if the catalogue changed meanwhile: CONFLICT).
 */
import { Prisma, type Service } from "../generated/prisma/client.ts";
import type { CalcomEventType } from "../calcom/event-types.ts";
import { NotFound } from "../calcom/errors.ts";
import { clientForCompany } from "../calcom/for-company.ts";
import { db } from "../db/client.ts";
import { project } from "../sync/normalise.ts";
import { ConflictError, NotFoundError, UserInputError } from "../domain/errors.ts";
import { actor, assertMayChange, inSpan, type Caller } from "./caller.ts";
import { calcomFailure, EventTypeAlreadyLinkedError, EventTypeNotFoundError, NotConnectedError, serviceStateError } from "./errors.ts";
import { auditServiceChange, restoreData, type ServiceSnapshot } from "./snapshot.ts";
import { acceptable, linkSuggestions, type LinkSuggestion } from "./suggestions.ts";
import { companyAttrs, serviceLinks, serviceUnlinks } from "./telemetry.ts";

type Tx = Prisma.TransactionClient;
export type LinkSource = "manual" | "suggestion" | "import" | "export";

const json = (v: unknown) => (v === null || v === undefined ? Prisma.DbNull : (v as Prisma.InputJsonValue));

/** The update that makes a service the image of `et` (as the sync's upsert would write it). */
export function linkData(et: CalcomEventType): Prisma.ServiceUpdateInput {
  const p = project(et);
  return {
    calcomEventTypeId: p.eventTypeId,
    name: p.name,
    slug: p.slug,
    description: p.description,
    durationMinutes: p.durationMinutes,
    priceMinor: p.priceMinor,
    currency: p.currency,
    hidden: p.hidden,
    locations: json(p.locations),
    bookingFields: json(p.bookingFields),
    metadata: json(p.metadata),
    contentHash: p.contentHash,
    syncStatus: "SYNCED",
    lastCalcomSync: new Date(),
    syncError: null,
    exportSlug: null,
    exportStartedAt: null,
  };
}

/** Locks the service row for the rest of `tx` and reads it. */
export async function lockService(tx: Tx, serviceId: string): Promise<Service | null> {
  await tx.$queryRaw`SELECT 1 FROM services WHERE id = ${serviceId}::uuid FOR UPDATE`;
  return tx.service.findUnique({ where: { id: serviceId } });
}

/**
 * Links `service` (an orphan) to `et` inside `tx`, with its audit row. Throws
 * EVENT_TYPE_ALREADY_LINKED when another service of the company holds the event type.
 */
export async function linkInTx(
  tx: Tx,
  serviceId: string,
  et: CalcomEventType,
  actorName: string,
  action: "service.linked" | "service.exported",
  extra: Record<string, Prisma.InputJsonValue | null> = {},
): Promise<Service> {
  const before = await lockService(tx, serviceId);
  if (!before) throw new NotFoundError("Service");
  if (before.calcomEventTypeId !== null && before.calcomEventTypeId !== et.id) {
    throw serviceStateError("ALREADY_LINKED", `The service is already linked to Cal.com event type ${before.calcomEventTypeId}; unlink it first.`);
  }
  const holder = await tx.service.findFirst({
    where: { companyId: before.companyId, calcomEventTypeId: et.id, id: { not: before.id } },
    select: { id: true },
  });
  if (holder) throw new EventTypeAlreadyLinkedError(et.id, holder.id);
  let after: Service;
  try {
    after = await tx.service.update({ where: { id: before.id }, data: linkData(et) });
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") throw new EventTypeAlreadyLinkedError(et.id, null);
    throw err;
  }
  await auditServiceChange(tx, actorName, action, before, after, { calcomEventTypeId: et.id, ...extra }, "unlinkService");
  return after;
}

async function loadForChange(serviceId: string, caller: Caller) {
  const service = await db().service.findUnique({ where: { id: serviceId }, include: { company: { select: { id: true, slug: true } } } });
  if (!service) throw new NotFoundError("Service");
  assertMayChange(caller, service.companyId);
  return service;
}

/** The event type from Cal.com, checked to be the company's. */
async function fetchEventType(companyId: string, eventTypeId: number): Promise<CalcomEventType> {
  if (!Number.isSafeInteger(eventTypeId) || eventTypeId <= 0) {
    throw new UserInputError("calcomEventTypeId must be a positive Cal.com event type id.", "calcomEventTypeId");
  }
  const connection = await db().calcomConnection.findUnique({ where: { companyId }, select: { companyId: true } });
  if (!connection) throw new NotConnectedError();
  try {
    const client = await clientForCompany(companyId);
    return await client.getEventType(eventTypeId);
  } catch (err) {
    if (err instanceof NotFound) throw new EventTypeNotFoundError(eventTypeId);
    throw calcomFailure(err, companyId);
  }
}

export async function linkService(serviceId: string, calcomEventTypeId: number, caller: Caller): Promise<Service> {
  return inSpan("link_service", { service_id: serviceId, "calsync.calcom.event_type_id": calcomEventTypeId }, async (span) => {
    const service = await loadForChange(serviceId, caller);
    span.setAttribute("calsync.company_id", service.companyId);
    if (service.calcomEventTypeId === calcomEventTypeId) return service; // already so: nothing to do
    if (service.calcomEventTypeId !== null) {
      throw serviceStateError("ALREADY_LINKED", `The service is already linked to Cal.com event type ${service.calcomEventTypeId}; unlink it first.`);
    }
    const et = await fetchEventType(service.companyId, calcomEventTypeId);
    const linked = await db().$transaction((tx) => linkInTx(tx, service.id, et, actor(caller), "service.linked", { source: "manual" }));
    serviceLinks.add(1, { ...companyAttrs(service.company), source: "manual" });
    return linked;
  });
}

/** The audit row of the link that is in place now, if calsync made it. */
async function linkAudit(tx: Tx, service: Service) {
  const rows = await tx.auditEvent.findMany({
    where: {
      companyId: service.companyId,
      action: { in: ["service.linked", "service.exported"] },
      details: { path: ["serviceId"], equals: service.id },
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: 1,
  });
  const row = rows[0];
  const details = row?.details as { calcomEventTypeId?: number; before?: Partial<ServiceSnapshot> | null } | undefined;
  return row && details?.calcomEventTypeId === service.calcomEventTypeId ? { id: row.id, before: details.before ?? null } : null;
}

export async function unlinkService(serviceId: string, caller: Caller): Promise<Service> {
  return inSpan("unlink_service", { service_id: serviceId }, async (span) => {
    const service = await loadForChange(serviceId, caller);
    span.setAttribute("calsync.company_id", service.companyId);
    const after = await db().$transaction(async (tx) => {
      const before = await lockService(tx, serviceId);
      if (!before) throw new NotFoundError("Service");
      if (before.calcomEventTypeId === null) throw serviceStateError("NOT_LINKED", "The service is not linked to a Cal.com event type.");
      const made = await linkAudit(tx, before);
      const restore = made?.before ? restoreData(made.before) : {};
      const updated = await tx.service.update({
        where: { id: before.id },
        data: {
          ...restore,
          ...(made?.before ? { locations: Prisma.DbNull, bookingFields: Prisma.DbNull, metadata: Prisma.DbNull } : {}),
          calcomEventTypeId: null,
          syncStatus: before.syncStatus === "LEGACY" ? "LEGACY" : "NEVER_SYNCED",
          contentHash: null,
          lastCalcomSync: null,
          syncError: null,
          exportSlug: null,
          exportStartedAt: null,
        },
      });
      await auditServiceChange(
        tx,
        actor(caller),
        "service.unlinked",
        before,
        updated,
        { calcomEventTypeId: before.calcomEventTypeId, restoredFromAuditEventId: made?.id ?? null },
        `linkService(calcomEventTypeId: ${before.calcomEventTypeId})`,
      );
      return updated;
    });
    serviceUnlinks.add(1, companyAttrs(service.company));
    return after;
  });
}

export interface AcceptResult {
  dryRun: boolean;
  suggestions: LinkSuggestion[];
}

export async function acceptLinkSuggestions(companyId: string, minScore: number, dryRun: boolean, caller: Caller): Promise<AcceptResult> {
  return inSpan("accept_link_suggestions", { company_id: companyId, "calsync.orphans.min_score": minScore, "calsync.orphans.dry_run": dryRun }, async (span) => {
    if (!Number.isFinite(minScore) || minScore < 0 || minScore > 1) throw new UserInputError("minScore must be between 0 and 1.", "minScore");
    const company = await db().company.findUnique({ where: { id: companyId }, select: { id: true, slug: true, connection: { select: { companyId: true } } } });
    if (!company) throw new NotFoundError("Company");
    assertMayChange(caller, companyId);
    if (!company.connection) throw new NotConnectedError();
    const chosen = acceptable(await linkSuggestions(companyId), minScore);
    span.setAttribute("calsync.orphans.accepted", chosen.length);
    if (dryRun || chosen.length === 0) return { dryRun, suggestions: chosen };
    const linked = await db().$transaction(async (tx) => {
      const out: LinkSuggestion[] = [];
      for (const s of chosen) {
        const current = await lockService(tx, s.service.id);
        if (!current || current.calcomEventTypeId !== null || current.syncStatus === "LEGACY" || !current.isActive) {
          throw new ConflictError("The catalogue changed while the suggestions were accepted; nothing was linked. Look at the suggestions again.");
        }
        const service = await linkInTx(tx, s.service.id, s.eventType, actor(caller), "service.linked", { source: "suggestion", score: s.score });
        out.push({ ...s, service });
      }
      return out;
    });
    serviceLinks.add(linked.length, { ...companyAttrs(company), source: "suggestion" });
    return { dryRun, suggestions: linked };
  });
}
