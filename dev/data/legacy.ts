/**
 * The old system's data set, for tests and the demo: 7 companies, 1 connected to Cal.com
 * ("Praxis am See"), 36 services there, 11 linked to Cal.com and 25 active without a Cal.com id:
 * coverage 30.56 %. Loaded the way an operator would: companies created, the one connected with
 * `connectCalcom`, its catalogue loaded through `calsync services import` (the CSV carries the
 * Cal.com ids of the 11 linked services).
 *
 * The Cal.com stand-in must hold `legacyEventTypes()` for the connected key BEFORE loading (the
 * import checks the 11 links against the company's listing): the 11 linked event types, event
 * types that match some orphans (spelled differently: accents, case, punctuation, word order, stop
 * words, compounds), near misses, a duplicate title and one with another duration, and decoys.
 * `expectations.json` says what the orphan workflow should find and do with them.
 *
 * Dev tooling: production code never imports this file.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { db } from "../../src/db/client.ts";
import { connectCalcom } from "../../src/domain/calcom-connection.ts";
import { createCompany } from "../../src/domain/companies.ts";
import type { Caller } from "../../src/orphans/caller.ts";
import { importServices, type ImportSummary } from "../../src/orphans/import.ts";

export const LEGACY_DIR = fileURLToPath(new URL("./legacy/", import.meta.url));

export interface LegacyCompany {
  name: string;
  slug: string;
  calcom: boolean;
  services?: string;
}

export interface LegacyEventType {
  id: number;
  title: string;
  slug: string;
  lengthInMinutes: number;
  [field: string]: unknown;
}

export interface LegacyExpectations {
  company: string;
  coverageBefore: number;
  synced: string[];
  trueMatches: Record<string, number>;
  acceptAbove: number;
  acceptedAtThreshold: Record<string, number>;
  linkByHand: Record<string, number>;
  ambiguous: string[];
  export: string[];
  legacy: string[];
}

const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(LEGACY_DIR, name), "utf8")) as T;

export const legacyCompanies = (): LegacyCompany[] => readJson("companies.json");
/** The Cal.com stand-in's event types for the connected company's key (2024-06-14 fields). */
export const legacyEventTypes = (): LegacyEventType[] => readJson("calcom-event-types.json");
export const legacyExpectations = (): LegacyExpectations => readJson("expectations.json");
export const legacyServicesFile = (company = "praxis-am-see"): string => join(LEGACY_DIR, `${company}.services.csv`);

export interface LoadOptions {
  /** The Cal.com API key of the connected company (the stand-in must know it). */
  apiKey: string;
  /** The webhook secret stored for it (Default: a fixed dev secret). */
  webhookSecret?: string;
  teamId?: number;
  /** Who loads it, for the audit trail (Default: "cli"). */
  caller?: Caller;
  /** Appended to every company slug (`praxis-am-see-<suffix>`), so one database can hold several copies (tests). */
  slugSuffix?: string;
  /** Import the catalogues too (Default: true); false leaves that to `calsync services import`. */
  importServices?: boolean;
}

export interface LoadedLegacy {
  companies: { id: string; slug: string; name: string }[];
  connected: { id: string; slug: string; name: string };
  imports: ImportSummary[];
}

/** Loads the data set; companies that exist (by slug) are reused, and the import is idempotent. */
export async function loadLegacyDataSet(options: LoadOptions): Promise<LoadedLegacy> {
  const caller = options.caller ?? "cli";
  const actorName = typeof caller === "string" ? caller : "admin";
  const companies: LoadedLegacy["companies"] = [];
  const imports: ImportSummary[] = [];
  let connected: LoadedLegacy["connected"] | undefined;
  for (const spec of legacyCompanies()) {
    const slug = options.slugSuffix ? `${spec.slug}-${options.slugSuffix}` : spec.slug;
    const existing = await db().company.findUnique({ where: { slug } });
    const company = existing ?? (await createCompany({ name: spec.name, slug }, actorName));
    companies.push({ id: company.id, slug: company.slug, name: company.name });
    if (spec.calcom) {
      connected = { id: company.id, slug: company.slug, name: company.name };
      await connectCalcom(
        {
          companyId: company.id,
          apiKey: options.apiKey,
          webhookSecret: options.webhookSecret ?? "whsec_dev_legacy_0123456789abcdef",
          teamId: options.teamId ?? null,
        },
        actorName,
      );
    }
    if (spec.services && options.importServices !== false) {
      const file = join(LEGACY_DIR, spec.services);
      imports.push(await importServices({ companyId: company.id, text: readFileSync(file, "utf8"), format: "csv", fileName: file, dryRun: false }, caller));
    }
  }
  if (!connected) throw new Error("the legacy data set names no connected company");
  return { companies, connected, imports };
}
