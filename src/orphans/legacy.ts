/**
 * Marking orphans LEGACY (deliberately off Cal.com: they leave the coverage's active count) and
 * undoing it for one service.
 *
 * The old system's fix was a blind UPDATE; this one shows first: `dryRun` (the default) lists what
 * would be marked and changes nothing. Without it, every orphan is marked in ONE transaction with
 * one audit row per service (before/after), so each can be reactivated on its own.
 * `reactivateService` puts a LEGACY service back: NEVER_SYNCED without a Cal.com id, SYNCED with one
 * (its fields kept following Cal.com while it was LEGACY).
 */
import type { Service } from "../generated/prisma/client.ts";
import { db } from "../db/client.ts";
import { NotFoundError } from "../domain/errors.ts";
import { actor, assertMayChange, inSpan, type Caller } from "./caller.ts";
import { serviceStateError } from "./errors.ts";
import { lockService } from "./link.ts";
import { auditServiceChange } from "./snapshot.ts";
import { orphanWhere } from "./suggestions.ts";
import { companyAttrs, legacyMarks } from "./telemetry.ts";

export interface OrphanCleanupResult {
  dryRun: boolean;
  services: Service[];
  count: number;
}

export async function markOrphanedServicesLegacy(companyId: string, dryRun: boolean, caller: Caller): Promise<OrphanCleanupResult> {
  return inSpan("mark_orphaned_services_legacy", { company_id: companyId, "calsync.orphans.dry_run": dryRun }, async (span) => {
    const company = await db().company.findUnique({ where: { id: companyId }, select: { id: true, slug: true } });
    if (!company) throw new NotFoundError("Company");
    assertMayChange(caller, companyId);
    const orderBy = [{ name: "asc" as const }, { id: "asc" as const }];
    if (dryRun) {
      const services = await db().service.findMany({ where: orphanWhere(companyId), orderBy });
      span.setAttribute("calsync.orphans.count", services.length);
      return { dryRun, services, count: services.length };
    }
    const services = await db().$transaction(async (tx) => {
      // Lock the orphans first: a link or export racing with this one either commits before
      // (and its service is no longer an orphan here) or waits and finds it LEGACY.
      const rows = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text AS id FROM services
         WHERE company_id = ${companyId}::uuid AND is_active AND calcom_event_type_id IS NULL AND sync_status <> 'LEGACY'
         ORDER BY name, id FOR UPDATE`;
      const out: Service[] = [];
      for (const { id } of rows) {
        const before = await tx.service.findUniqueOrThrow({ where: { id } });
        const after = await tx.service.update({ where: { id }, data: { syncStatus: "LEGACY" } });
        await auditServiceChange(tx, actor(caller), "service.marked_legacy", before, after, {}, "reactivateService");
        out.push(after);
      }
      return out;
    });
    span.setAttribute("calsync.orphans.count", services.length);
    if (services.length > 0) legacyMarks.add(services.length, { ...companyAttrs(company), action: "marked" });
    return { dryRun, services, count: services.length };
  });
}

export async function reactivateService(serviceId: string, caller: Caller): Promise<Service> {
  return inSpan("reactivate_service", { service_id: serviceId }, async (span) => {
    const service = await db().service.findUnique({ where: { id: serviceId }, include: { company: { select: { id: true, slug: true } } } });
    if (!service) throw new NotFoundError("Service");
    span.setAttribute("calsync.company_id", service.companyId);
    assertMayChange(caller, service.companyId);
    const after = await db().$transaction(async (tx) => {
      const before = await lockService(tx, serviceId);
      if (!before) throw new NotFoundError("Service");
      if (before.syncStatus !== "LEGACY") throw serviceStateError("NOT_LEGACY", "The service is not LEGACY; there is nothing to reactivate.");
      const updated = await tx.service.update({
        where: { id: serviceId },
        data: { syncStatus: before.calcomEventTypeId === null ? "NEVER_SYNCED" : "SYNCED" },
      });
      await auditServiceChange(tx, actor(caller), "service.reactivated", before, updated, {}, "markOrphanedServicesLegacy");
      return updated;
    });
    legacyMarks.add(1, { ...companyAttrs(service.company), action: "reactivated" });
    return after;
  });
}
