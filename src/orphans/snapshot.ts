/**
 * What the audit trail keeps of a service before and after a change: its catalogue fields and
 * its link state, never anything secret. `restoreData` turns a snapshot back into an update, which
 * is how `unlinkService` gives a service back the fields it had before calsync linked it.
 */
import type { Prisma, Service } from "../generated/prisma/client.ts";
import { audit } from "../domain/audit.ts";

type Tx = Prisma.TransactionClient;

export interface ServiceSnapshot {
  name: string;
  slug: string | null;
  description: string | null;
  durationMinutes: number | null;
  priceMinor: number | null;
  currency: string | null;
  isActive: boolean;
  hidden: boolean;
  externalId: string | null;
  calcomEventTypeId: number | null;
  syncStatus: string;
}

export function snapshot(s: Service): ServiceSnapshot {
  return {
    name: s.name,
    slug: s.slug,
    description: s.description,
    durationMinutes: s.durationMinutes,
    priceMinor: s.priceMinor,
    currency: s.currency,
    isActive: s.isActive,
    hidden: s.hidden,
    externalId: s.externalId,
    calcomEventTypeId: s.calcomEventTypeId,
    syncStatus: s.syncStatus,
  };
}

/** The catalogue fields of a snapshot, as a Prisma update (link state excluded). */
export function restoreData(before: Partial<ServiceSnapshot>): Prisma.ServiceUpdateInput {
  const data: Prisma.ServiceUpdateInput = {};
  if (typeof before.name === "string") data.name = before.name;
  if (before.slug !== undefined) data.slug = before.slug;
  if (before.description !== undefined) data.description = before.description;
  if (before.durationMinutes !== undefined) data.durationMinutes = before.durationMinutes;
  if (before.priceMinor !== undefined) data.priceMinor = before.priceMinor;
  if (before.currency !== undefined) data.currency = before.currency;
  if (typeof before.hidden === "boolean") data.hidden = before.hidden;
  return data;
}

/**
 * One audit row for one service change. `undo` names the operation that reverses it, so a person
 * reading the trail knows the way back.
 */
export async function auditServiceChange(
  tx: Tx,
  actor: string,
  action: string,
  before: Service | null,
  after: Service,
  extra: Record<string, Prisma.InputJsonValue | null> = {},
  undo?: string,
): Promise<void> {
  await audit(
    after.companyId,
    actor,
    action,
    {
      serviceId: after.id,
      before: before ? (snapshot(before) as unknown as Prisma.InputJsonValue) : null,
      after: snapshot(after) as unknown as Prisma.InputJsonValue,
      ...extra,
      ...(undo ? { undo } : {}),
    } as Prisma.InputJsonObject,
    tx,
  );
}
