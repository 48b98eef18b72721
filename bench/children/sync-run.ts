/**
 * Child: full syncs of a company in-process, as `calsync sync <company>` runs them (a MANUAL run in
 * the ledger, then the engine), timed, with the process's peak RSS over its RSS before the run.
 * Also the floor: fetching and JSON-parsing the same listing from the fake, nothing else.
 * Started with --expose-gc so the baseline is taken after a collection.
 */
import { env } from "../../src/config.ts";
import { connectDatabase, disconnectDatabase, pool } from "../../src/db/client.ts";
import { configureLogger } from "../../src/log.ts";
import { executeRun, startLocalRun } from "../../src/sync/runs.ts";
import { serveParent } from "../lib/child.ts";
import { POOL_SIZE } from "../lib/env.ts";

const config = env();
configureLogger({ level: "silent" });
connectDatabase(config.DATABASE_URL!, { max: POOL_SIZE });

const maxRss = () => process.resourceUsage().maxRSS * 1024;

export interface Measured {
  ms: number;
  rssBefore: number;
  /** Peak RSS while measuring (the high-water mark if it rose, else the highest sample). */
  rssPeak: number;
}

/** Times `fn` and watches RSS; the first call of a process is the one whose memory is clean. */
async function measure<T>(fn: () => Promise<T>): Promise<{ m: Measured; value: T }> {
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = process.memoryUsage().rss;
  const hwmBefore = maxRss();
  let sampled = rssBefore;
  const sampler = setInterval(() => void (sampled = Math.max(sampled, process.memoryUsage().rss)), 5);
  const started = performance.now();
  const value = await fn();
  const ms = performance.now() - started;
  clearInterval(sampler);
  sampled = Math.max(sampled, process.memoryUsage().rss);
  const hwm = maxRss();
  return { m: { ms, rssBefore, rssPeak: hwm > hwmBefore ? hwm : sampled }, value };
}

async function syncOnce(companyId: string) {
  const { run } = await startLocalRun(companyId, "MANUAL", false);
  const outcome = await executeRun(run.id, { attempt: 1, maxAttempts: 1 });
  if (outcome?.run.status !== "SUCCEEDED") throw new Error(`sync ${outcome?.run.status}: ${outcome?.run.errorClass} ${outcome?.run.error}`);
  return outcome.result!;
}

async function servicesState(companyId: string) {
  const { rows } = await pool().query<{ n: number; last: Date | null }>(
    "SELECT count(*)::int AS n, max(updated_at) AS last FROM services WHERE company_id = $1",
    [companyId],
  );
  return rows[0]!;
}

async function listing(apiKey: string): Promise<number> {
  const res = await fetch(`${config.CALCOM_API_URL}/v2/event-types`, {
    headers: { authorization: `Bearer ${apiKey}`, "cal-api-version": "2024-06-14", accept: "application/json" },
  });
  const body = (await res.json()) as { data: unknown[] };
  return body.data.length;
}

serveParent(
  {},
  {
    /**
     * A warm-up sync of another company, then `repeats` imports of the target (its services are
     * deleted between them, outside the clock), then `repeats` unchanged re-syncs, each checked to
     * write no service row.
     */
    engine: async (warmCompanyId: string, companyId: string, repeats: number) => {
      await syncOnce(warmCompanyId);
      const imports: Measured[] = [];
      for (let i = 0; i < repeats; i++) {
        if (i > 0) await pool().query("DELETE FROM services WHERE company_id = $1", [companyId]);
        const { m, value } = await measure(() => syncOnce(companyId));
        if (value.created !== value.fetched) throw new Error(`import created ${value.created} of ${value.fetched}`);
        imports.push(m);
      }
      const resyncs: Measured[] = [];
      let written = 0;
      let fetched = 0;
      for (let i = 0; i < repeats; i++) {
        const before = await servicesState(companyId);
        const { m, value } = await measure(() => syncOnce(companyId));
        const after = await servicesState(companyId);
        const { rows } = await pool().query<{ n: number }>(
          "SELECT count(*)::int AS n FROM services WHERE company_id = $1 AND updated_at > $2",
          [companyId, before.last],
        );
        written += rows[0]!.n + value.created + value.updated + value.remoteDeleted;
        if (after.last?.getTime() !== before.last?.getTime()) written++;
        fetched = value.fetched;
        resyncs.push(m);
      }
      return { imports, resyncs, written, fetched };
    },
    /** The floor: a warm-up fetch, then `repeats` fetch + json() of the target listing. */
    floor: async (warmKey: string, apiKey: string, repeats: number) => {
      await listing(warmKey);
      const fetches: Measured[] = [];
      for (let i = 0; i < repeats; i++) fetches.push((await measure(() => listing(apiKey))).m);
      return { fetches };
    },
  },
  disconnectDatabase,
);
