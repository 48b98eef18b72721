/**
 * Helpers for the sync tests: a fake Cal.com wired into the app's configuration, GraphQL calls
 * that start a sync, and running the worker's jobs (including ones waiting for a retry).
 */
import { randomUUID } from "node:crypto";
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import { expect } from "vitest";
import { pool, db } from "../../src/db/client.ts";
import { FakeCalcom, type FakeCalcomOptions } from "./fake-calcom.ts";
import { startTestApp, type TestApp } from "./app.ts";
import { drainJobs, settleJobs } from "./worker.ts";
import { connectCompany, createCompany } from "../factories.ts";
import { tuneCalcomClients } from "../../src/calcom/for-company.ts";

export const gid = (type: string, id: string) => encodeGlobalID(type, id);

export interface SyncHarness {
  t: TestApp;
  fake: FakeCalcom;
  close: () => Promise<void>;
}

/**
 * A fake Cal.com (no rate limit unless asked) and the app pointed at it, with a budget that never
 * makes a test wait, and client retries with millisecond backoff.
 */
export async function startSyncHarness(
  options: { fake?: FakeCalcomOptions; env?: Record<string, string> } = {},
): Promise<SyncHarness> {
  const fake = new FakeCalcom({ apiKeys: [], rateLimit: false, ...options.fake });
  await fake.start();
  const t = await startTestApp({ CALCOM_API_URL: fake.url, CALCOM_RATE_LIMIT_PER_MINUTE: "100000", ...options.env });
  tuneCalcomClients({ baseDelayMs: 5, maxDelayMs: 20 });
  return {
    t,
    fake,
    close: async () => {
      tuneCalcomClients({});
      await t.close();
      await fake.close();
    },
  };
}

/** A company connected with a fresh key that the fake knows, with `eventTypes` event types. */
export async function connectedCompany(fake: FakeCalcom, eventTypes: Parameters<FakeCalcom["addEventTypes"]>[1] = 0) {
  const apiKey = `cal_test_${randomUUID().replaceAll("-", "")}`;
  fake.addApiKey(apiKey);
  const company = await createCompany();
  await connectCompany(company.id, apiKey);
  const created = fake.addEventTypes(apiKey, eventTypes);
  return { company, apiKey, eventTypes: created };
}

export const SYNC_COMPANY = `mutation($id: ID!, $force: Boolean) {
  syncCompany(companyId: $id, force: $force) {
    id status trigger progress fetched created updated unchanged remoteDeleted attempts error errorClass
  }
}`;

/** Starts a sync through GraphQL (admin), returns the SyncRun as the API shows it. */
export async function syncViaGraphql(t: TestApp, companyId: string, force?: boolean) {
  const res = await t.gql(SYNC_COMPANY, { id: gid("Company", companyId), force: force ?? null });
  expect(res.body.errors).toBeUndefined();
  return res.body.data.syncCompany as { id: string; status: string };
}

/**
 * Waits until no job is locked. graphile-worker records a job's success or failure without
 * awaiting it (runOnce can return first) and exposes no promise for that write, so this polls
 * briefly.
 */
export { settleJobs };

/** Makes jobs that wait for a retry due now (graphile-worker backs off for seconds). */
export async function makeRetriesDue(): Promise<void> {
  await settleJobs();
  await pool().query("UPDATE graphile_worker._private_jobs SET run_at = now() WHERE locked_at IS NULL AND attempts > 0");
}

/** Runs due jobs, then retries until nothing is left to run. */
export async function drainWithRetries(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await drainJobs();
    const { rows } = await pool().query<{ n: number }>(
      "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE attempts < max_attempts AND locked_at IS NULL",
    );
    if (!rows[0]?.n) return;
    await makeRetriesDue();
  }
}

/** The run row by its GraphQL id. */
export async function runRow(globalId: string) {
  const { id } = decodeGlobalID(globalId);
  return db().syncRun.findUniqueOrThrow({ where: { id } });
}

export async function jobsLeft(task?: string): Promise<number> {
  await settleJobs();
  const { rows } = await pool().query<{ n: number }>(
    "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE ($1::text IS NULL OR task_identifier = $1)",
    [task ?? null],
  );
  return rows[0]?.n ?? 0;
}
