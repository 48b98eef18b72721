/**
 * The old system's data set (dev/data/legacy.ts) in a fresh test database, with the fake Cal.com
 * holding its event types, loaded through the import as an operator would.
 */
import { randomUUID } from "node:crypto";
import { db } from "../../src/db/client.ts";
import { invalidateListing } from "../../src/sync/listing-cache.ts";
import { legacyEventTypes, legacyExpectations, loadLegacyDataSet } from "../../dev/data/legacy.ts";
import type { FakeCalcom } from "./fake-calcom.ts";

/** Each load makes its own companies (slugs end in `suffix`), unless given the suffix of an earlier one. */
export async function loadLegacy(fake: FakeCalcom, options: { teamId?: number; suffix?: string; importServices?: boolean } = {}) {
  const suffix = options.suffix ?? randomUUID().slice(0, 8);
  const apiKey = `cal_test_${randomUUID().replaceAll("-", "")}`;
  fake.addApiKey(apiKey);
  if (options.teamId !== undefined) fake.addTeam(options.teamId, [apiKey]);
  fake.setEventTypes(options.teamId !== undefined ? { teamId: options.teamId } : apiKey, legacyEventTypes());
  invalidateListing();
  const loaded = await loadLegacyDataSet({ apiKey, slugSuffix: suffix, ...(options.importServices === false ? { importServices: false } : {}), ...(options.teamId !== undefined ? { teamId: options.teamId } : {}) });
  return { ...loaded, apiKey, suffix, expect: legacyExpectations() };
}

/** externalId → service id of a company. */
export async function serviceIds(companyId: string): Promise<Map<string, string>> {
  const rows = await db().service.findMany({ where: { companyId }, select: { id: true, externalId: true } });
  return new Map(rows.filter((r) => r.externalId).map((r) => [r.externalId!, r.id]));
}
