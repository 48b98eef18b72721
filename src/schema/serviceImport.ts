/**
 * `importServices`: the same import as `calsync services import` (src/orphans/import.ts), for
 * clients that hold the file's text (a dashboard upload). Dry run by default.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { builder } from "./builder.ts";
import { importServices, type ImportError, type ImportRowResult, type ImportSummary } from "../orphans/import.ts";
import { Company } from "./company.ts";
import { NotFoundError } from "./errors.ts";
import { isUuid } from "./ids.ts";

const ImportFormatEnum = builder.enumType("ServiceImportFormat", { values: ["CSV", "JSON"] as const });
const ImportOutcomeEnum = builder.enumType("ServiceImportOutcome", { values: ["CREATED", "UPDATED", "UNCHANGED", "REJECTED"] as const });

const ImportErrorRef = builder.objectRef<ImportError>("ServiceImportError").implement({
  description: "One problem of one row: a row with any problem is rejected whole.",
  fields: (t) => ({
    line: t.exposeInt("line", { description: "1-based line of the row in the file." }),
    field: t.exposeString("field", { nullable: true, description: "The column / key; null for the whole row." }),
    message: t.exposeString("message"),
    externalId: t.exposeString("externalId", { nullable: true }),
  }),
});

const ImportRowRef = builder.objectRef<ImportRowResult>("ServiceImportRow").implement({
  fields: (t) => ({
    line: t.exposeInt("line"),
    externalId: t.exposeString("externalId", { nullable: true }),
    outcome: t.field({ type: ImportOutcomeEnum, resolve: (r) => r.outcome.toUpperCase() as "CREATED" }),
    serviceId: t.id({ nullable: true, resolve: (r) => (r.serviceId ? encodeGlobalID("Service", r.serviceId) : null) }),
    linkedTo: t.exposeInt("linkedTo", { nullable: true, description: "The Cal.com event type the row linked (calcomEventTypeId)." }),
  }),
});

const ImportResultRef = builder.objectRef<ImportSummary>("ServiceImportResult").implement({
  fields: (t) => ({
    dryRun: t.exposeBoolean("dryRun"),
    total: t.exposeInt("total"),
    created: t.exposeInt("created"),
    updated: t.exposeInt("updated"),
    unchanged: t.exposeInt("unchanged"),
    rejected: t.exposeInt("rejected"),
    linked: t.exposeInt("linked"),
    errors: t.field({ type: [ImportErrorRef], resolve: (s) => s.errors }),
    rows: t.field({ type: [ImportRowRef], resolve: (s) => s.rows }),
  }),
});

builder.mutationField("importServices", (t) =>
  t.field({
    type: ImportResultRef,
    description:
      "Creates or updates the company's services from a CSV (header row) or JSON file's text, matched by externalId (a re-run changes nothing). " +
      "Every problem is reported with its line and field; the valid rows are applied in one transaction. dryRun (default) writes nothing.",
    args: {
      companyId: t.arg.globalID({ required: true, for: Company }),
      format: t.arg({ type: ImportFormatEnum, required: true }),
      content: t.arg.string({ required: true }),
      dryRun: t.arg.boolean({ defaultValue: true }),
    },
    resolve: (_parent, args, ctx) => {
      if (!isUuid(args.companyId.id)) throw new NotFoundError("Company");
      return importServices(
        { companyId: args.companyId.id, text: args.content, format: args.format === "CSV" ? "csv" : "json", dryRun: args.dryRun ?? true },
        ctx.principal,
      );
    },
  }),
);
