import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../src/db/client.ts";
import { SYNC_RUN_CHANNEL } from "../src/sync/run-events.ts";
import { executeRun, startLocalRun } from "../src/sync/runs.ts";
import { connectedCompany, startSyncHarness, type SyncHarness } from "./support/sync.ts";

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());

/** One in-process run (as the CLI does), with the progress it reported and the NOTIFYs others saw. */
async function timedRun(companyId: string) {
  const listener = new pg.Client({ connectionString: h.t.databaseUrl });
  await listener.connect();
  const notified: string[] = [];
  listener.on("notification", (m) => notified.push(m.payload ?? ""));
  await listener.query(`LISTEN ${SYNC_RUN_CHANNEL}`);
  const progress: number[] = [];
  const started = performance.now();
  const { run } = await startLocalRun(companyId, "MANUAL", false);
  const outcome = await executeRun(run.id, { attempt: 1, onProgress: (p) => progress.push(p.progress) });
  const ms = performance.now() - started;
  await listener.query("SELECT 1"); // notifications sent before this round trip have arrived
  await listener.end();
  return { outcome: outcome!, ms, progress, notifications: notified.filter((id) => id === run.id).length };
}

describe("10,000 event types", () => {
  it("imports in chunks of a few hundred rows, then re-syncs without a write", async () => {
    const { company } = await connectedCompany(h.fake, 10_000);
    const rssBefore = process.memoryUsage().rss;

    const first = await timedRun(company.id);

    expect(first.outcome.run).toMatchObject({ status: "SUCCEEDED", fetched: 10_000, created: 10_000, updated: 0, unchanged: 0, progress: 1 });
    expect(first.outcome.result!.chunks).toBe(20); // 500 rows per statement
    expect(await db().service.count({ where: { companyId: company.id, syncStatus: "SYNCED" } })).toBe(10_000);
    // Progress: listed, then once per chunk, then finished; each one NOTIFYed to other processes.
    expect(first.progress).toHaveLength(22);
    expect(first.progress).toEqual([...first.progress].sort((a, b) => a - b));
    // claimed (the CLI's run is RUNNING from its claim, so starting it changes nothing and sends
    // nothing), 21 progress updates, finished
    expect(first.notifications).toBe(1 + 21 + 1);
    const peakRssMb = Math.round(process.memoryUsage().rss / 1e6);

    const mark = new Date();
    const again = await timedRun(company.id);
    expect(again.outcome.run).toMatchObject({ status: "SUCCEEDED", fetched: 10_000, created: 0, updated: 0, unchanged: 10_000 });
    expect(again.outcome.result!.chunks).toBe(0); // unchanged event types are not even sent
    expect(await db().service.count({ where: { companyId: company.id, updatedAt: { gte: mark } } })).toBe(0);

    console.log(
      `sync of 10,000 event types: import ${Math.round(first.ms)} ms, unchanged re-sync ${Math.round(again.ms)} ms, ` +
        `RSS ${Math.round(rssBefore / 1e6)} MB before, ${peakRssMb} MB after import`,
    );
  });

  it("imports 11 event types well within the old system's 0.5 s", async () => {
    const { company } = await connectedCompany(h.fake, 11);
    await timedRun(company.id); // warm: first use of the code paths in this process
    await db().service.deleteMany({ where: { companyId: company.id } });
    const run = await timedRun(company.id);
    expect(run.outcome.run).toMatchObject({ status: "SUCCEEDED", created: 11 });
    expect(run.ms).toBeLessThan(500);
    console.log(`sync of 11 event types: ${Math.round(run.ms)} ms`);
  });
});
