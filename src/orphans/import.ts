/**
 * `calsync services import <file.csv|file.json> --company <id> [--dry-run]`: a company's catalogue
 * from the system it lives in, into calsync.
 *
 * Format: CSV with a header row, or JSON (an array of objects, or `{"services": [...]}`), with
 * the columns/keys `externalId` (required: the row's key), `name` (required), `slug`,
 * `description`, `durationMinutes`, `priceMinor`, `currency`, `isActive` (default true) and
 * `calcomEventTypeId` (optional: the row is linked to that event type of the company, as
 * `linkService` would). Unknown columns are refused by name, so a typo never drops data silently.
 *
 * Invariants:
 * - every row is validated on its own, and every problem of a row is reported with the row's line
 *   in the file and the field (a row with any problem is rejected whole);
 * - rows are matched by `externalId` (unique per company): a re-run of the same file changes
 *   nothing (all rows `unchanged`); a changed row updates its service; a new one creates one;
 *   the import never deletes or unlinks a service;
 * - on a service linked to Cal.com, the fields Cal.com owns follow Cal.com: the file's values for
 *   them are not applied and do not count as changes;
 * - every valid row is applied in ONE transaction, with one audit row per changed service and one
 *   `services.imported` summary; rejected rows are reported and change nothing; `dryRun` reports
 *   the same summary and writes nothing.
 */
import { basename, extname } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import type { Prisma, Service } from "../generated/prisma/client.ts";
import type { CalcomEventType } from "../calcom/event-types.ts";
import { audit } from "../domain/audit.ts";
import { db } from "../db/client.ts";
import { NotFoundError, UserInputError } from "../domain/errors.ts";
import { actor, assertMayChange, inSpan, type Caller } from "./caller.ts";
import { linkInTx } from "./link.ts";
import { companyListing } from "./listing.ts";
import { applyUpdate, CALCOM_OWNED, changedFields, insertService, serviceFields, type ServiceFields } from "./services.ts";
import { companyAttrs, serviceLinks } from "./telemetry.ts";

export const IMPORT_COLUMNS = [
  "externalId", "name", "slug", "description", "durationMinutes", "priceMinor", "currency", "isActive", "calcomEventTypeId",
] as const;

export type ImportOutcome = "created" | "updated" | "unchanged" | "rejected";

export interface ImportError {
  /** 1-based line in the file where the row is (its last line for a CSV row spanning several). */
  line: number;
  /** The column / key, or null for the whole row. */
  field: string | null;
  message: string;
  externalId: string | null;
}

export interface ImportRowResult {
  line: number;
  externalId: string | null;
  outcome: ImportOutcome;
  serviceId: string | null;
  linkedTo: number | null;
}

export interface ImportSummary {
  dryRun: boolean;
  companyId: string;
  total: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  linked: number;
  errors: ImportError[];
  rows: ImportRowResult[];
}

/** A file-level problem (unreadable CSV/JSON, unknown columns): nothing is imported. */
export class ImportFileError extends UserInputError {
  constructor(message: string) {
    super(message, "file");
  }
}

interface RawRow {
  line: number;
  values: Record<string, unknown>;
  problem?: string;
}

export type ImportFormat = "csv" | "json";

export function formatOf(path: string): ImportFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".csv") return "csv";
  if (ext === ".json") return "json";
  throw new ImportFileError(`cannot tell the format of ${basename(path)}: use a .csv or .json file`);
}

function checkColumns(columns: Iterable<string>, where: string): void {
  const known = new Set<string>(IMPORT_COLUMNS);
  const unknown = [...columns].filter((c) => !known.has(c));
  if (unknown.length > 0) {
    throw new ImportFileError(`unknown ${where} ${unknown.map((c) => `"${c}"`).join(", ")}; expected some of: ${IMPORT_COLUMNS.join(", ")}`);
  }
}

function readCsv(text: string): RawRow[] {
  let records: { record: Record<string, string>; info: { lines: number; invalid_field_length?: number } }[];
  let header: string[] = [];
  try {
    records = parseCsv(text, {
      bom: true,
      columns: (h: string[]) => (header = h.map((c) => c.trim())),
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
    }) as typeof records;
  } catch (err) {
    throw new ImportFileError(`the CSV cannot be read: ${(err as Error).message}`);
  }
  checkColumns(header, "column(s)");
  if (!header.includes("externalId") || !header.includes("name")) throw new ImportFileError("the header must have the columns externalId and name");
  return records.map(({ record, info }) => {
    const row: RawRow = { line: info.lines, values: record };
    if (Object.keys(record).length !== header.length || info.invalid_field_length) {
      row.problem = `the row does not have the ${header.length} fields of the header`;
    }
    return row;
  });
}

/**
 * The line on which each element of the services array starts (the document's first array: the
 * top-level one, or the one under "services"). Strings and nested values are skipped.
 */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let arrayDepth = -1;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\n") line++;
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (/\s/.test(ch)) continue;
    if (expectElement && ch !== "]") {
      lines.push(line);
      expectElement = false;
    }
    if (ch === '"') inString = true;
    else if (ch === "[" || ch === "{") {
      depth++;
      if (ch === "[" && arrayDepth < 0) {
        arrayDepth = depth;
        expectElement = true;
      }
    } else if (ch === "]" || ch === "}") {
      if (depth === arrayDepth) arrayDepth = -2; // the services array ended
      depth--;
    } else if (ch === "," && depth === arrayDepth) expectElement = true;
  }
  return lines;
}

function readJson(text: string): RawRow[] {
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    throw new ImportFileError(`the JSON cannot be read: ${(err as Error).message}`);
  }
  const list = Array.isArray(data) ? data : (data as { services?: unknown } | null)?.services;
  if (!Array.isArray(list)) throw new ImportFileError('the JSON must be an array of services, or {"services": [...]}');
  const lines = elementLines(text);
  return list.map((item, i) => {
    const line = lines[i] ?? i + 1;
    if (typeof item !== "object" || item === null || Array.isArray(item)) return { line, values: {}, problem: "the row must be an object" };
    checkColumns(Object.keys(item), "key(s)");
    return { line, values: item as Record<string, unknown> };
  });
}

export function readImportFile(text: string, format: ImportFormat): RawRow[] {
  return format === "csv" ? readCsv(text) : readJson(text);
}

interface ValidRow {
  line: number;
  externalId: string;
  fields: ServiceFields;
  /** The columns the row actually gives (others keep their current value on an update). */
  given: Set<keyof ServiceFields>;
  calcomEventTypeId: number | null;
}

class RowError extends Error {
  readonly field: string | null;
  constructor(field: string | null, message: string) {
    super(message);
    this.field = field;
  }
}

/** Every problem of one row (a row is rejected as a whole; each problem names its field). */
class RowErrors extends Error {
  readonly problems: RowError[];
  constructor(problems: RowError[]) {
    super(problems.map((p) => p.message).join("; "));
    this.problems = problems;
  }
}

function intValue(field: string, v: unknown): number | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "string" && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  throw new RowError(field, `must be a whole number, got "${String(v).slice(0, 40)}"`);
}

function boolValue(field: string, v: unknown): boolean | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "boolean") return v;
  const s = String(v).trim().toLowerCase();
  if (["true", "yes", "y", "1", "ja"].includes(s)) return true;
  if (["false", "no", "n", "0", "nein"].includes(s)) return false;
  throw new RowError(field, `must be true or false, got "${String(v).slice(0, 40)}"`);
}

function textValue(field: string, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return String(v);
  if (typeof v !== "string") throw new RowError(field, "must be text");
  return v.trim() === "" ? null : v;
}

function validateRow(raw: RawRow): ValidRow {
  if (raw.problem) throw new RowErrors([new RowError(null, raw.problem)]);
  const v = raw.values;
  const problems: RowError[] = [];
  /** Converts one cell; a failure is noted and the field left out of the schema check. */
  const cell = <T>(field: string, convert: (f: string, value: unknown) => T): T | undefined => {
    try {
      return convert(field, v[field]);
    } catch (err) {
      if (!(err instanceof RowError)) throw err;
      problems.push(err);
      return undefined;
    }
  };
  const externalId = cell("externalId", textValue);
  if (externalId === null) problems.push(new RowError("externalId", "is required (it is the row's key)"));
  const candidate: Record<string, unknown> = {
    name: cell("name", textValue) ?? "",
    slug: cell("slug", textValue),
    description: cell("description", textValue),
    durationMinutes: cell("durationMinutes", intValue),
    priceMinor: cell("priceMinor", intValue),
    currency: cell("currency", textValue),
    isActive: cell("isActive", boolValue) ?? true,
    externalId: externalId ?? "-",
  };
  const calcomEventTypeId = cell("calcomEventTypeId", intValue) ?? null;
  if (calcomEventTypeId !== null && calcomEventTypeId <= 0) problems.push(new RowError("calcomEventTypeId", "must be a positive Cal.com event type id"));
  const failed = new Set(problems.map((p) => p.field));
  const result = serviceFields.safeParse(candidate);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const field = issue.path.join(".") || null;
      if (!failed.has(field)) problems.push(new RowError(field, issue.message));
    }
  }
  if (problems.length > 0 || !result.success || !externalId) throw new RowErrors(problems);
  const given = new Set(Object.keys(v).filter((k) => k in candidate) as (keyof ServiceFields)[]);
  given.add("externalId");
  return { line: raw.line, externalId, fields: result.data, given, calcomEventTypeId };
}

export interface ImportOptions {
  companyId: string;
  /** The file's text and format (see `formatOf`). */
  text: string;
  format: ImportFormat;
  /** Shown in the audit summary (a base name; never a full path). */
  fileName?: string;
  dryRun: boolean;
}

export async function importServices(options: ImportOptions, caller: Caller): Promise<ImportSummary> {
  const { companyId, dryRun } = options;
  return inSpan("import_services", { company_id: companyId, "calsync.orphans.dry_run": dryRun }, async (span) => {
    const company = await db().company.findUnique({ where: { id: companyId }, select: { id: true, slug: true, connection: { select: { companyId: true } } } });
    if (!company) throw new NotFoundError("Company");
    assertMayChange(caller, companyId);
    const raw = readImportFile(options.text, options.format);

    const errors: ImportError[] = [];
    const rows: ImportRowResult[] = [];
    const valid: ValidRow[] = [];
    const seen = new Map<string, number>();
    for (const r of raw) {
      try {
        const row = validateRow(r);
        const first = seen.get(row.externalId);
        if (first !== undefined) throw new RowError("externalId", `repeats the externalId of line ${first}`);
        seen.set(row.externalId, row.line);
        valid.push(row);
      } catch (err) {
        const problems = err instanceof RowErrors ? err.problems : err instanceof RowError ? [err] : null;
        if (!problems) throw err;
        const externalId = typeof r.values["externalId"] === "string" && r.values["externalId"] ? r.values["externalId"] : null;
        for (const p of problems) errors.push({ line: r.line, field: p.field, message: p.field ? `${p.field} ${p.message}` : p.message, externalId });
        rows.push({ line: r.line, externalId, outcome: "rejected", serviceId: null, linkedTo: null });
      }
    }

    // Links need the company's event types (read through the listing cache, under the rate budget).
    let listing: Map<number, CalcomEventType> | undefined;
    if (valid.some((r) => r.calcomEventTypeId !== null) && company.connection) {
      listing = new Map((await companyListing(companyId)).map((et) => [et.id, et]));
    }

    const apply = async (tx: Prisma.TransactionClient) => {
      const existing = new Map<string, Service>();
      for (const s of await tx.service.findMany({ where: { companyId, externalId: { in: valid.map((r) => r.externalId) } } })) {
        existing.set(s.externalId!, s);
      }
      const holders = new Map<number, string>();
      for (const s of await tx.service.findMany({ where: { companyId, calcomEventTypeId: { not: null } }, select: { id: true, calcomEventTypeId: true } })) {
        holders.set(s.calcomEventTypeId!, s.id);
      }
      const who = actor(caller);
      const out: ImportRowResult[] = [];
      const rowErrors: ImportError[] = [];
      for (const row of valid) {
        const reject = (field: string | null, message: string) => {
          rowErrors.push({ line: row.line, field, message: field ? `${field} ${message}` : message, externalId: row.externalId });
          out.push({ line: row.line, externalId: row.externalId, outcome: "rejected", serviceId: null, linkedTo: null });
        };
        const current = existing.get(row.externalId);
        // The link the row asks for, checked before anything of the row is written.
        let link: CalcomEventType | undefined;
        const wanted = row.calcomEventTypeId;
        if (wanted !== null && current?.calcomEventTypeId !== wanted) {
          if (current && current.calcomEventTypeId !== null) {
            reject("calcomEventTypeId", `asks for event type ${wanted}, but the service is linked to ${current.calcomEventTypeId} (unlink it first)`);
            continue;
          }
          if (!company.connection) {
            reject("calcomEventTypeId", "cannot be linked: the company is not connected to Cal.com");
            continue;
          }
          link = listing?.get(wanted);
          if (!link) {
            reject("calcomEventTypeId", `${wanted} is not one of the company's Cal.com event types`);
            continue;
          }
          const holder = holders.get(wanted);
          if (holder !== undefined) {
            reject("calcomEventTypeId", `${wanted} is already linked to another service`);
            continue;
          }
        }

        let service: Service;
        let outcome: ImportOutcome;
        if (!current) {
          service = dryRun ? ({ id: "", companyId } as Service) : await insertService(tx, companyId, row.fields, who);
          outcome = "created";
        } else {
          const next: Partial<ServiceFields> = {};
          for (const key of row.given) (next as Record<string, unknown>)[key] = row.fields[key];
          if (current.calcomEventTypeId !== null || link) for (const key of CALCOM_OWNED) delete next[key];
          const changes = changedFields(current, next);
          const changed = Object.keys(changes).length > 0;
          service = dryRun || !changed ? current : await applyUpdate(tx, current, changes, who);
          outcome = changed ? "updated" : "unchanged";
        }
        if (link) {
          if (!dryRun) service = await linkInTx(tx, service.id, link, who, "service.linked", { source: "import" });
          holders.set(link.id, service.id);
          if (outcome === "unchanged") outcome = "updated";
        }
        out.push({ line: row.line, externalId: row.externalId, outcome, serviceId: service.id || null, linkedTo: link?.id ?? null });
      }
      return { out, rowErrors };
    };

    const run = async (tx: Prisma.TransactionClient) => {
      const result = await apply(tx);
      const counts = tally([...rows, ...result.out]);
      if (!dryRun && counts.created + counts.updated > 0) {
        await audit(companyId, actor(caller), "services.imported", {
          file: options.fileName ? basename(options.fileName) : null,
          created: counts.created,
          updated: counts.updated,
          unchanged: counts.unchanged,
          rejected: counts.rejected,
          linked: counts.linked,
        }, tx);
      }
      return result;
    };
    // A dry run reads in a transaction too (one consistent view), and writes nothing.
    const { out, rowErrors } = await db().$transaction(run, { timeout: 60_000 });
    const all = [...rows, ...out].sort((a, b) => a.line - b.line);
    errors.push(...rowErrors);
    errors.sort((a, b) => a.line - b.line);
    const summary: ImportSummary = { dryRun, companyId, total: raw.length, ...tally(all), errors, rows: all };
    span.setAttributes({
      "calsync.import.created": summary.created,
      "calsync.import.updated": summary.updated,
      "calsync.import.unchanged": summary.unchanged,
      "calsync.import.rejected": summary.rejected,
    });
    if (!dryRun && summary.linked > 0) serviceLinks.add(summary.linked, { ...companyAttrs(company), source: "import" });
    return summary;
  });
}

function tally(rows: readonly ImportRowResult[]) {
  const count = (o: ImportOutcome) => rows.filter((r) => r.outcome === o).length;
  return {
    created: count("created"),
    updated: count("updated"),
    unchanged: count("unchanged"),
    rejected: count("rejected"),
    linked: rows.filter((r) => r.linkedTo !== null).length,
  };
}
