import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { buildCli } from "../src/cli.ts";
import { parseEnv, setEnv } from "../src/config.ts";
import { connectDatabase, db, disconnectDatabase } from "../src/db/client.ts";
import { tuneCalcomClients } from "../src/calcom/for-company.ts";
import { invalidateListing } from "../src/sync/listing-cache.ts";
import { legacyServicesFile } from "../dev/data/legacy.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { createTestDatabase } from "./support/db.ts";
import { FakeCalcom } from "./support/fake-calcom.ts";
import { loadLegacy, serviceIds } from "./support/legacy.ts";
import { createCompany } from "./factories.ts";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
const fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
const dir = mkdtempSync(join(tmpdir(), "calsync-import-"));

beforeAll(async () => {
  await fake.start();
  database = await createTestDatabase();
  setEnv(parseEnv({
    DATABASE_URL: database.url, ADMIN_TOKEN, SECRETS_KEY, LOG_LEVEL: "silent",
    CALCOM_API_URL: fake.url, CALCOM_RATE_LIMIT_PER_MINUTE: "100000",
  }));
  tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 400 });
});
afterAll(async () => {
  tuneCalcomClients({});
  await disconnectDatabase();
  await database.drop();
  await fake.close();
});
beforeEach(() => {
  fake.clearFaults();
  fake.clearLog();
  invalidateListing();
  process.exitCode = undefined;
});

/** Runs one `calsync …` command in-process; returns stdout and the exit code it set. */
async function calsync(...args: string[]): Promise<{ out: string; code: number }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  try {
    await buildCli().parseAsync(["node", "calsync", ...args]);
  } finally {
    spy.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out: stripVTControlCharacters(chunks.join("")), code };
}

async function json<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  const { out } = await calsync(...args, "--json");
  return JSON.parse(out) as T;
}

/** Runs `fn` with this process connected to the test database (the CLI connects on its own). */
async function withDb<T>(fn: () => Promise<T>): Promise<T> {
  connectDatabase(database.url);
  try {
    return await fn();
  } finally {
    await disconnectDatabase();
  }
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("calsync services import", () => {
  it("validates row by row with line and field, applies the valid rows, and is idempotent", async () => {
    const company = await withDb(() => createCompany());
    const gid = encodeGlobalID("Company", company.id);
    const csv = file("catalogue.csv", [
      "externalId,name,slug,durationMinutes,priceMinor,currency,isActive",
      "A-1,Massage,massage,30,3000,EUR,true",
      "A-2,,no-name,30,,,",
      "A-3,Sauna,Sauna!,abc,,,",
      '"A-4","Yoga, am Morgen",yoga,60,1500,eur,ja',
      "A-1,Again,again,30,,,",
      "A-5,Pilates,pilates,45,,EURO,",
    ].join("\n"));

    const dry = await calsync("services", "import", csv, "--company", gid, "--dry-run");
    expect(dry.code).toBe(1);
    expect(dry.out).toContain("dry run, nothing written: would be created 2, updated 0, unchanged 0, rejected 4");
    expect(await withDb(() => db().service.count({ where: { companyId: company.id } }))).toBe(0);

    const first = await calsync("services", "import", csv, "--company", gid);
    expect(first.code).toBe(1);
    expect(first.out).toContain("created 2, updated 0, unchanged 0, rejected 4");
    const lines = first.out.split("\n");
    const errorRow = (line: number) => lines.find((l) => new RegExp(`^│ ${line}\\s+│`).test(l)) ?? "";
    expect(errorRow(3)).toMatch(/A-2\s+│ name\s+│ name must not be empty/);
    // Every problem of a row is reported, each with its field.
    expect(lines.filter((l) => /^│ 4\s+│ A-3/.test(l)).map((l) => l.split("│")[3]!.trim()).sort()).toEqual(["durationMinutes", "slug"]);
    expect(errorRow(6)).toMatch(/A-1\s+│ externalId\s+│ externalId repeats the externalId of line 2/);
    expect(errorRow(7)).toMatch(/A-5\s+│ currency\s+│ currency must be a three-letter ISO 4217 code/);

    const services = await withDb(() => db().service.findMany({ where: { companyId: company.id }, orderBy: { externalId: "asc" } }));
    expect(services.map((s) => [s.externalId, s.name, s.syncStatus, s.currency, s.isActive])).toEqual([
      ["A-1", "Massage", "NEVER_SYNCED", "eur", true],
      ["A-4", "Yoga, am Morgen", "NEVER_SYNCED", "eur", true],
    ]);

    const again = await json<{ created: number; updated: number; unchanged: number; rejected: number }>("services", "import", csv, "--company", gid);
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 2, rejected: 4 });

    // A changed row updates its service, and the change is audited with before and after.
    const json2 = file("catalogue.json", JSON.stringify([
      { externalId: "A-1", name: "Massage", durationMinutes: 45 },
      { externalId: "A-6", name: "Reiki", durationMinutes: "60", isActive: false },
      { externalId: "A-7", name: "Bad", durationMinutes: 0 },
    ], null, 2));
    const summary = await json<{ created: number; updated: number; rejected: number; errors: { line: number; field: string }[] }>(
      "services", "import", json2, "--company", gid,
    );
    expect(summary).toMatchObject({ created: 1, updated: 1, rejected: 1 });
    expect(dry.out).not.toContain("A-6");
    expect(summary.errors).toEqual([expect.objectContaining({ line: 13, field: "durationMinutes" })]);
    const audit = await withDb(() => db().auditEvent.findFirstOrThrow({ where: { companyId: company.id, action: "service.updated" } }));
    expect(audit).toMatchObject({ actor: "cli", details: expect.objectContaining({ before: expect.objectContaining({ durationMinutes: 30 }), after: expect.objectContaining({ durationMinutes: 45 }) }) });
    expect(audit.correlationId).toMatch(/^cli-/);
  });

  it("refuses a file with an unknown column, naming it, and writes nothing", async () => {
    const company = await withDb(() => createCompany());
    const csv = file("typo.csv", "externalId,name,durationMinuten\nX-1,Massage,30\n");
    await expect(calsync("services", "import", csv, "--company", company.id)).rejects.toThrow(/unknown column\(s\) "durationMinuten"/);
    expect(await withDb(() => db().service.count({ where: { companyId: company.id } }))).toBe(0);
  });
});

describe("from 30.56 % to 100 % with the CLI alone", () => {
  it("imports the old catalogue, accepts suggestions, links by hand, exports, marks legacy; all audited and undoable", async () => {
    const legacy = await withDb(() => loadLegacy(fake, { importServices: false }));
    const company = encodeGlobalID("Company", legacy.connected.id);

    const imported = await calsync("services", "import", legacyServicesFile(), "--company", company);
    expect(imported.out).toContain("created 36, updated 0, unchanged 0, rejected 0 (11 linked to Cal.com) of 36 rows");
    const coverage = async () =>
      (await json<{ companies: { id: string; coverage: { coveragePercent: number; activeServices: number; syncedServices: number } }[] }>("coverage"))
        .companies.find((c) => c.id === company)!.coverage;
    expect((await coverage()).coveragePercent).toBe(30.56);

    // The table: every orphan with its best candidates; ambiguous ones starred.
    const table = (await calsync("orphans", company, "--suggest")).out;
    expect(table).toContain(`25 orphan(s) in ${legacy.connected.slug}`);
    expect(table).toContain("coverage 30.56 % (11/36)");
    const row = (name: string) => table.split("\n").find((l) => l.includes(name)) ?? "";
    expect(row("Hot-Stone-Massage")).toMatch(/PAS-012\s+│ 60\s+│ NEVER_SYNCED │ 601 Hot Stone Massage \(60 min\) 1\.000/);
    expect(row("FASZIENTHERAPIE")).toContain("*613 Faszientherapie (45 min) 1.000");
    expect(row("Corona-Schnelltest")).toContain("none above the floor");

    // --json for scripts.
    type Orphans = {
      orphans: { externalId: string; id: string; suggestions: { calcomEventTypeId: number; rank: number; ambiguous: boolean }[] }[];
      accepted: { service: { externalId: string }; calcomEventTypeId: number }[] | null;
      legacy: { count: number; services: { externalId: string }[] } | null;
      coverage: { coveragePercent: number };
    };
    const listed = await json<Orphans>("orphans", company, "--suggest");
    expect(listed.orphans).toHaveLength(25);
    expect(listed.orphans.find((o) => o.externalId === "PAS-021")!.suggestions[0]).toMatchObject({ calcomEventTypeId: 610, rank: 1, ambiguous: false });

    // Dry runs change nothing.
    const dry = await json<Orphans>("orphans", company, "--accept-above", "0.9", "--mark-legacy", "--dry-run");
    expect(dry.accepted!.map((a) => [a.service.externalId, a.calcomEventTypeId]).sort()).toEqual(Object.entries(legacy.expect.acceptedAtThreshold).sort());
    expect(dry.legacy!.services.map((s) => s.externalId).sort()).toEqual(
      [...legacy.expect.legacy, ...Object.keys(legacy.expect.linkByHand), ...legacy.expect.export].sort(),
    );
    expect((await coverage()).coveragePercent).toBe(30.56);

    const accepted = await calsync("orphans", company, "--accept-above", "0.9");
    expect(accepted.out).toContain("linked 12 service(s) at score >= 0.9:");
    const ids = await withDb(() => serviceIds(legacy.connected.id));
    for (const [externalId, eventTypeId] of Object.entries(legacy.expect.linkByHand)) {
      const linked = await json<{ syncStatus: string; calcomEventTypeId: number }>("services", "link", ids.get(externalId)!, String(eventTypeId));
      expect(linked).toMatchObject({ syncStatus: "SYNCED", calcomEventTypeId: eventTypeId });
    }
    // The first export's create lands on Cal.com but its answer never comes: still one event type.
    fake.fault({ path: "/v2/event-types", method: "POST", hangAfterHandling: true });
    for (const externalId of legacy.expect.export) {
      const exported = await calsync("services", "export", encodeGlobalID("Service", ids.get(externalId)!));
      expect(exported.out).toMatch(/^exported .*: SYNCED, Cal.com event type \d+/);
    }
    expect(fake.requestsTo("/v2/event-types", "POST")).toHaveLength(legacy.expect.export.length);
    const slugs = fake.eventTypes(legacy.apiKey).map((et) => et.slug);
    expect(new Set(slugs).size).toBe(slugs.length);

    const marked = await calsync("orphans", company, "--mark-legacy");
    expect(marked.out).toContain("mark 5 service(s) LEGACY:");
    expect(marked.out).toContain(`0 orphan(s) in ${legacy.connected.slug}; coverage 100.00 % (31/31)`);
    expect(await coverage()).toMatchObject({ coveragePercent: 100, activeServices: 31, syncedServices: 31 });

    // Every step is in the audit trail, as the CLI.
    const trail = await json<{ actor: string; action: string; correlationId: string }[]>("audit", company, "--limit", "500");
    const byAction = (action: string) => trail.filter((e) => e.action === action && e.actor === "cli").length;
    expect(byAction("service.created")).toBe(36);
    expect(byAction("service.linked")).toBe(11 + 12 + 2);
    expect(byAction("service.exported")).toBe(6);
    expect(byAction("service.marked_legacy")).toBe(5);
    expect(byAction("services.imported")).toBe(1);
    const auditTable = (await calsync("audit", company, "--limit", "3")).out;
    expect(auditTable).toMatch(/cli\s+│ service\.marked_legacy │ .+│ NEVER_SYNCED -> LEGACY │ cli-/);

    // …and undoable from the CLI.
    const unlinked = await json<{ syncStatus: string; name: string }>("services", "unlink", ids.get("PAS-014")!);
    expect(unlinked).toEqual(expect.objectContaining({ syncStatus: "NEVER_SYNCED", name: "Kinesio-Taping" }));
    const back = await json<{ syncStatus: string }>("services", "reactivate", ids.get("PAS-036")!);
    expect(back.syncStatus).toBe("NEVER_SYNCED");
    const after = await json<Orphans>("orphans", company);
    expect(after.orphans.map((o) => o.externalId).sort()).toEqual(["PAS-014", "PAS-036"]);
    expect(after.coverage.coveragePercent).toBe(93.75); // 30 / 32
  });

  it("answers a clear error for a link the company cannot make", async () => {
    const legacy = await withDb(() => loadLegacy(fake));
    const ids = await withDb(() => serviceIds(legacy.connected.id));
    await expect(calsync("services", "link", ids.get("PAS-012")!, "501")).rejects.toThrow(/already linked to another service/);
    await expect(calsync("services", "link", ids.get("PAS-012")!, "99999")).rejects.toThrow(/not one of this company's event types/);
    expect(readFileSync(legacyServicesFile(), "utf8")).toContain("PAS-036");
  });
});
