/**
 * Exporting an orphan to Cal.com: `POST /v2/event-types` (the team's path when the connection has
 * a team) from the service's name, a slug free on Cal.com, its duration and description, then
 * linking the service to what Cal.com created.
 *
 * Why a create is never made twice, even when Cal.com stores it and the answer is lost (timeout,
 * reset connection, 5xx from a proxy after the write):
 * 1. the slug is chosen and COMMITTED on the service (`export_slug`, `export_started_at`) before
 *    the POST is sent;
 * 2. the POST goes out with retries off (the client's automatic retry would repeat it blindly);
 * 3. after a failed POST, and at the start of any later export of the same service, the recorded
 *    slug is looked up on Cal.com (a fresh listing): found means "our create went through", and the
 *    event type is adopted instead of created; not found means it is safe to POST again.
 * Slugs are unique per Cal.com owner, so the slug names the attempt. The recorded slug is cleared
 * when the service is linked, or when Cal.com refuses the create outright (400), so a later export
 * picks a slug afresh.
 *
 * The export is one span; the Cal.com calls inside it (listing, POST) are its child spans.
 */
import type { Service } from "../generated/prisma/client.ts";
import type { CalcomEventType } from "../calcom/event-types.ts";
import { RateLimited, RequestRejected, Unavailable } from "../calcom/errors.ts";
import { clientForCompany } from "../calcom/for-company.ts";
import { db } from "../db/client.ts";
import { log } from "../log.ts";
import { AppError, NotFoundError, UserInputError } from "../domain/errors.ts";
import { actor, assertMayChange, inSpan, type Caller } from "./caller.ts";
import { calcomFailure, NotConnectedError, serviceStateError } from "./errors.ts";
import { linkInTx } from "./link.ts";
import { companyListing } from "./listing.ts";
import { slugFor } from "./similarity.ts";
import { companyAttrs, serviceExports, serviceLinks } from "./telemetry.ts";

/** POSTs per export call (each followed by a look-up of the slug when it fails). */
const MAX_CREATE_ATTEMPTS = 3;

/** `base`, or `base-2`, `base-3`, … : the first slug no listed event type has. */
export function freeSlug(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const candidate = `${base.slice(0, 60)}-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

async function lookUp(companyId: string, slug: string): Promise<CalcomEventType | undefined> {
  const listing = await companyListing(companyId, { fresh: true });
  return listing.find((et) => et.slug === slug);
}

function checkExportable(service: Service): number {
  if (service.calcomEventTypeId !== null) {
    throw serviceStateError("ALREADY_LINKED", `The service is already linked to Cal.com event type ${service.calcomEventTypeId}.`);
  }
  if (service.syncStatus === "LEGACY") throw serviceStateError("IS_LEGACY", "The service is LEGACY; reactivate it before exporting it.");
  if (!service.isActive) throw serviceStateError("INACTIVE", "The service is inactive; activate it before exporting it.");
  if (service.durationMinutes === null) {
    throw new UserInputError("durationMinutes is required to create a Cal.com event type (lengthInMinutes); set it with updateService.", "durationMinutes");
  }
  return service.durationMinutes;
}

export async function exportServiceToCalcom(serviceId: string, caller: Caller): Promise<Service> {
  return inSpan("export_service", { service_id: serviceId }, async (span) => {
    const service = await db().service.findUnique({
      where: { id: serviceId },
      include: { company: { select: { id: true, slug: true, connection: { select: { teamId: true } } } } },
    });
    if (!service) throw new NotFoundError("Service");
    const { companyId } = service;
    span.setAttribute("calsync.company_id", companyId);
    assertMayChange(caller, companyId);
    const lengthInMinutes = checkExportable(service);
    const connection = service.company.connection;
    if (!connection) throw new NotConnectedError();
    if (connection.teamId !== null) span.setAttribute("calsync.calcom.team_id", connection.teamId);
    const attrs = companyAttrs(service.company);

    try {
      // Resume: an earlier call committed to a slug; if Cal.com has it, that call's create went through.
      let slug = service.exportSlug;
      let eventType: CalcomEventType | undefined;
      let adopted = false;
      if (slug) {
        eventType = await lookUp(companyId, slug);
        adopted = eventType !== undefined;
      } else {
        const listing = await companyListing(companyId, { fresh: true });
        slug = freeSlug(slugFor(service.name, service.slug), new Set(listing.map((et) => et.slug)));
        // Record the attempt before the call (committed on its own). Only one export of a service
        // records a slug; a concurrent one adopts what the first recorded.
        const recorded = await db().service.updateMany({
          where: { id: serviceId, exportSlug: null, calcomEventTypeId: null },
          data: { exportSlug: slug, exportStartedAt: new Date() },
        });
        if (recorded.count === 0) {
          const now = await db().service.findUniqueOrThrow({ where: { id: serviceId } });
          checkExportable(now);
          slug = now.exportSlug ?? slug;
        }
      }
      span.setAttribute("calsync.calcom.slug", slug);

      if (!eventType) {
        const client = await clientForCompany(companyId, { maxAttempts: 1 });
        const input = {
          title: service.name,
          slug,
          lengthInMinutes,
          ...(service.description ? { description: service.description } : {}),
          ...(service.priceMinor ? { price: service.priceMinor, ...(service.currency ? { currency: service.currency } : {}) } : {}),
        };
        for (let attempt = 1; !eventType; attempt++) {
          try {
            eventType = await client.createEventType(input);
          } catch (err) {
            if (!(err instanceof Unavailable || err instanceof RateLimited || err instanceof RequestRejected)) throw err;
            span.addEvent("calsync.export.create_failed", { "calsync.export.attempt": attempt, "error.type": err.code });
            // Did Cal.com store it before the answer was lost (or before our earlier attempt's was)?
            eventType = await lookUp(companyId, slug);
            adopted = eventType !== undefined;
            if (eventType) break;
            if (err instanceof RequestRejected) {
              await db().service.update({ where: { id: serviceId }, data: { exportSlug: null, exportStartedAt: null } });
              throw new AppError("CALCOM_REQUEST_REJECTED", `Cal.com refused to create the event type (HTTP ${err.status ?? "?"}${err.calcomCode ? `, ${err.calcomCode}` : ""}).`);
            }
            if (attempt >= MAX_CREATE_ATTEMPTS) throw err;
            log("orphans").warn({ companyId, serviceId, attempt, errorClass: err.name }, "export: create failed and not on Cal.com; sending it again");
          }
        }
      }

      span.setAttribute("calsync.export.adopted", adopted);
      const linked = await db().$transaction((tx) =>
        linkInTx(tx, serviceId, eventType, actor(caller), "service.exported", {
          slug,
          adopted,
          teamId: connection.teamId,
        }),
      );
      serviceExports.add(1, { ...attrs, outcome: adopted ? "adopted" : "created" });
      serviceLinks.add(1, { ...attrs, source: "export" });
      return linked;
    } catch (err) {
      const failure = err instanceof AppError ? err : calcomFailure(err, companyId);
      const code = failure instanceof AppError ? String(failure.extensions["code"]) : "";
      if (code.startsWith("CALCOM_")) {
        serviceExports.add(1, { ...attrs, outcome: "failed" });
        // The attempt stays recorded: the next export looks the slug up before creating anything.
        await db()
          .service.update({ where: { id: serviceId }, data: { syncError: `export failed: ${failure.message}`.slice(0, 500) } })
          .catch(() => {});
      }
      throw failure;
    }
  });
}
