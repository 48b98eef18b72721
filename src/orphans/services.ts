/**
 * Services that do not come from Cal.com: `createService` and `updateService`.
 *
 * A created service is NEVER_SYNCED (an orphan while it is active) until it is linked or exported.
 * `externalId` is the service's key in the system the catalogue comes from; it is unique per
 * company (a database constraint), which is what makes `calsync services import` re-runnable.
 *
 * Fields that Cal.com owns (name, slug, description, duration, price, currency) cannot be edited
 * on a service linked to Cal.com: the sync would not carry the edit to Cal.com, and the next change
 * there would silently overwrite it. Change them on Cal.com, or unlink the service first.
 */
import { z } from "zod";
import { Prisma, type Service } from "../generated/prisma/client.ts";
import { db } from "../db/client.ts";
import { ConflictError, NotFoundError, UserInputError } from "../domain/errors.ts";
import { actor, assertMayChange, inSpan, type Caller } from "./caller.ts";
import { auditServiceChange } from "./snapshot.ts";

type Tx = Prisma.TransactionClient;

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$/;

/** The fields a service has of its own, validated the same way for GraphQL, the CLI and imports. */
export const serviceFields = z.object({
  name: z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters"),
  slug: z
    .string()
    .trim()
    .regex(SLUG, "must be lowercase letters, digits and dashes, not starting or ending with a dash (at most 100)")
    .nullable(),
  description: z.string().max(5000, "must be at most 5000 characters").nullable(),
  durationMinutes: z.number().int("must be a whole number").min(1, "must be at least 1").max(1440, "must be at most 1440").nullable(),
  priceMinor: z.number().int("must be a whole number of minor units (cents)").min(0, "must not be negative").max(100_000_000, "is too large").nullable(),
  currency: z
    .string()
    .trim()
    .regex(/^[A-Za-z]{3}$/, "must be a three-letter ISO 4217 code, e.g. EUR")
    .transform((c) => c.toLowerCase())
    .nullable(),
  isActive: z.boolean(),
  externalId: z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters").nullable(),
});

export type ServiceFields = z.output<typeof serviceFields>;

/** Fields that follow Cal.com once a service is linked. */
export const CALCOM_OWNED = ["name", "slug", "description", "durationMinutes", "priceMinor", "currency"] as const;

export interface CreateServiceInput {
  companyId: string;
  name: string;
  slug?: string | null | undefined;
  description?: string | null | undefined;
  durationMinutes?: number | null | undefined;
  priceMinor?: number | null | undefined;
  currency?: string | null | undefined;
  isActive?: boolean | null | undefined;
  externalId?: string | null | undefined;
}

export type UpdateServiceInput = {
  [K in keyof Omit<CreateServiceInput, "companyId">]?: CreateServiceInput[K] | null | undefined;
};

/** Throws BAD_USER_INPUT naming the first invalid field. */
function parsed<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join(".");
  throw new UserInputError(`${field} ${issue.message}.`, field);
}

/** `undefined` → absent; empty strings of optional text fields → null. */
function clean(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    out[k] = typeof v === "string" && v.trim() === "" && k !== "name" ? null : v;
  }
  return out;
}

export function duplicateExternalId(err: unknown): boolean {
  return (
    err instanceof Prisma.PrismaClientKnownRequestError &&
    err.code === "P2002" &&
    JSON.stringify(err.meta ?? {}).includes("external_id")
  );
}

/** Creates a NEVER_SYNCED service in `tx` (no checks of the caller: see createService). */
export async function insertService(tx: Tx, companyId: string, fields: ServiceFields, actorName: string): Promise<Service> {
  const created = await tx.service.create({ data: { companyId, ...fields, syncStatus: "NEVER_SYNCED" } });
  await auditServiceChange(tx, actorName, "service.created", null, created, {}, "updateService(isActive: false)");
  return created;
}

export async function createService(input: CreateServiceInput, caller: Caller): Promise<Service> {
  return inSpan("create_service", { company_id: input.companyId }, async () => {
    const company = await db().company.findUnique({ where: { id: input.companyId }, select: { id: true } });
    if (!company) throw new NotFoundError("Company");
    assertMayChange(caller, company.id);
    const { companyId: _c, ...rest } = input;
    const fields = parsed(serviceFields, {
      slug: null, description: null, durationMinutes: null, priceMinor: null, currency: null, isActive: true, externalId: null,
      ...clean(rest),
    });
    try {
      return await db().$transaction((tx) => insertService(tx, company.id, fields, actor(caller)));
    } catch (err) {
      if (duplicateExternalId(err)) throw new ConflictError(`A service with externalId "${fields.externalId}" already exists in this company.`);
      throw err;
    }
  });
}

/** The fields of `next` that differ from `current` (only those given). */
export function changedFields(current: Service, next: Partial<ServiceFields>): Partial<ServiceFields> {
  const changes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(next)) {
    if ((current as unknown as Record<string, unknown>)[k] !== v) changes[k] = v;
  }
  return changes as Partial<ServiceFields>;
}

/** Refuses Cal.com-owned fields on a linked service (see the module comment). */
export function assertEditable(current: Service, changes: Partial<ServiceFields>): void {
  if (current.calcomEventTypeId === null) return;
  const owned = CALCOM_OWNED.find((k) => k in changes);
  if (owned) {
    throw new UserInputError(
      `${owned} follows Cal.com while the service is linked to event type ${current.calcomEventTypeId}: change it on Cal.com, or unlink the service first.`,
      owned,
    );
  }
}

/** Applies already validated changes in `tx`; returns the service unchanged when nothing differs. */
export async function applyUpdate(tx: Tx, current: Service, changes: Partial<ServiceFields>, actorName: string): Promise<Service> {
  if (Object.keys(changes).length === 0) return current;
  const updated = await tx.service.update({ where: { id: current.id }, data: changes });
  await auditServiceChange(tx, actorName, "service.updated", current, updated, {}, "updateService with the before values");
  return updated;
}

export async function updateService(serviceId: string, input: UpdateServiceInput, caller: Caller): Promise<Service> {
  return inSpan("update_service", { service_id: serviceId }, async (span) => {
    const current = await db().service.findUnique({ where: { id: serviceId } });
    if (!current) throw new NotFoundError("Service");
    span.setAttribute("calsync.company_id", current.companyId);
    assertMayChange(caller, current.companyId);
    const given = clean(input as Record<string, unknown>);
    if ("name" in given && given["name"] === null) throw new UserInputError("name must not be empty.", "name");
    if ("isActive" in given && given["isActive"] === null) throw new UserInputError("isActive must be true or false.", "isActive");
    const fields = parsed(serviceFields.partial(), given) as Partial<ServiceFields>;
    const changes = changedFields(current, fields);
    assertEditable(current, changes);
    try {
      return await db().$transaction((tx) => applyUpdate(tx, current, changes, actor(caller)));
    } catch (err) {
      if (duplicateExternalId(err)) throw new ConflictError(`A service with externalId "${fields.externalId}" already exists in this company.`);
      throw err;
    }
  });
}
