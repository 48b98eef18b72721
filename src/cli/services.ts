/**
 * `calsync services …`: one service at a time, and imports.
 *
 * - `services import <file.csv|file.json> --company <id> [--dry-run]`: see src/orphans/import.ts;
 *   prints the summary (created, updated, unchanged, rejected) and each rejected row with its line
 *   and field; exits 1 when a row was rejected (the valid rows are applied all the same).
 * - `services link <serviceId> <eventTypeId>`, `services unlink <serviceId>`,
 *   `services export <serviceId>`, `services reactivate <serviceId>`: the GraphQL mutations of the
 *   same names, as the CLI (audited with actor "cli").
 */
import { readFile } from "node:fs/promises";
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import { type Command, InvalidArgumentError } from "commander";
import type { Service } from "../generated/prisma/client.ts";
import { companyIdArg, withRuntime } from "./common.ts";
import { emit, outputOf, paint, table, type OutputOptions } from "./output.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Accepts a Service's GraphQL id or a UUID. */
export function serviceIdArg(value: string): string {
  if (UUID.test(value)) return value.toLowerCase();
  try {
    const { typename, id } = decodeGlobalID(value);
    if (typename === "Service" && UUID.test(id)) return id.toLowerCase();
  } catch {
    /* fall through */
  }
  throw new InvalidArgumentError("expected a Service id (as GraphQL shows it) or a UUID");
}

function eventTypeIdArg(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) <= 0) {
    throw new InvalidArgumentError("expected a Cal.com event type id (a positive whole number)");
  }
  return Number(value);
}

function scoreArg(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("expected a score between 0 and 1, e.g. 0.9");
  return n;
}
export { scoreArg };

/** A service as the CLI's JSON shows it (GraphQL ids). */
export function serviceJson(s: Service) {
  return {
    id: encodeGlobalID("Service", s.id),
    companyId: encodeGlobalID("Company", s.companyId),
    externalId: s.externalId,
    name: s.name,
    slug: s.slug,
    durationMinutes: s.durationMinutes,
    isActive: s.isActive,
    syncStatus: s.syncStatus,
    calcomEventTypeId: s.calcomEventTypeId,
  };
}

function describe(out: OutputOptions, verb: string, s: Service): string {
  const link = s.calcomEventTypeId === null ? "no Cal.com event type" : `Cal.com event type ${s.calcomEventTypeId}`;
  return `${verb} ${s.name}${s.externalId ? ` (${s.externalId})` : ""}: ${paint(out, "bold", s.syncStatus)}, ${link}`;
}

function oneService(
  services: Command,
  name: string,
  description: string,
  run: (serviceId: string, extra: number | undefined) => Promise<Service>,
  verb: string,
  withEventType = false,
): void {
  const cmd = services.command(name).description(description).argument("<serviceId>", "Service id (GraphQL id or UUID)", serviceIdArg);
  if (withEventType) cmd.argument("<eventTypeId>", "Cal.com event type id", eventTypeIdArg);
  cmd.action((serviceId: string, ...rest: unknown[]) => {
    const command = rest[rest.length - 1] as Command;
    const eventTypeId = withEventType ? (rest[0] as number) : undefined;
    return withRuntime(async () => {
      const service = await run(serviceId, eventTypeId);
      const out = outputOf(command);
      emit(out, serviceJson(service), () => describe(out, verb, service));
    });
  });
}

export function registerServices(program: Command): void {
  const services = program.command("services").description("import services; link, unlink, export or reactivate one service");

  services
    .command("import")
    .description("create or update a company's services from a CSV or JSON file (idempotent by externalId)")
    .argument("<file>", "a .csv (header row) or .json file with externalId, name, slug, description, durationMinutes, priceMinor, currency, isActive, calcomEventTypeId")
    .requiredOption("--company <id>", "Company id (GraphQL id or UUID)", companyIdArg)
    .option("--dry-run", "validate and show what would change; write nothing")
    .action((file: string, opts: { company: string; dryRun?: boolean }, cmd: Command) =>
      withRuntime(async () => {
        const { formatOf, importServices } = await import("../orphans/import.ts");
        const format = formatOf(file);
        const text = await readFile(file, "utf8");
        const summary = await importServices({ companyId: opts.company, text, format, fileName: file, dryRun: Boolean(opts.dryRun) }, "cli");
        const out = outputOf(cmd);
        const json = {
          ...summary,
          companyId: encodeGlobalID("Company", summary.companyId),
          rows: summary.rows.map((r) => ({ ...r, serviceId: r.serviceId ? encodeGlobalID("Service", r.serviceId) : null })),
        };
        emit(out, json, () => {
          const head = `${summary.dryRun ? "dry run, nothing written: would be " : ""}created ${summary.created}, updated ${summary.updated}, ` +
            `unchanged ${summary.unchanged}, rejected ${summary.rejected} (${summary.linked} linked to Cal.com) of ${summary.total} rows`;
          if (summary.errors.length === 0) return paint(out, summary.rejected ? "red" : "green", head);
          const t = table(out, ["line", "externalId", "field", "error"]);
          for (const e of summary.errors) t.push([e.line, e.externalId ?? "", e.field ?? "(row)", e.message]);
          return `${paint(out, "red", head)}\n${t.toString()}`;
        });
        if (summary.rejected > 0) process.exitCode = 1;
      }),
    );

  const load = async () => ({ ...(await import("../orphans/link.ts")), ...(await import("../orphans/export.ts")), ...(await import("../orphans/legacy.ts")) });
  oneService(services, "link", "link a service to one of its company's Cal.com event types (SYNCED with its data)",
    async (id, et) => (await load()).linkService(id, et!, "cli"), "linked", true);
  oneService(services, "unlink", "unlink a service from its Cal.com event type (undoes link or export; nothing is deleted on Cal.com)",
    async (id) => (await load()).unlinkService(id, "cli"), "unlinked");
  oneService(services, "export", "create the service's event type on Cal.com and link it (safe to retry)",
    async (id) => (await load()).exportServiceToCalcom(id, "cli"), "exported");
  oneService(services, "reactivate", "undo LEGACY for one service",
    async (id) => (await load()).reactivateService(id, "cli"), "reactivated");
}
