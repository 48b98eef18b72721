/**
 * Child: the processing floor, graphile-worker running a no-op task (`bench_noop`) on its own pg
 * pool of calsync's size. Records each job's queue latency: now minus the `t` (epoch ms) its
 * producer put in the payload.
 */
import { Logger, run, type Runner } from "graphile-worker";
import pg from "pg";
import { serveParent } from "../lib/child.ts";
import { POOL_SIZE } from "../lib/env.ts";
import { JobTracker } from "../lib/jobs.ts";

const pool = new pg.Pool({ connectionString: process.env["DATABASE_URL"], max: POOL_SIZE });
pool.on("error", () => {});
pool.on("connect", (client) => client.on("error", () => {}));
const silent = new Logger(() => () => {});

let runner: Runner | null = null;
let tracker: JobTracker | null = null;
let latencies: number[] = [];

async function start(concurrency: number): Promise<void> {
  latencies = [];
  runner = await run({
    pgPool: pool,
    concurrency,
    noHandleSignals: true,
    pollInterval: 2_000,
    parsedCronItems: [],
    logger: silent,
    taskList: {
      bench_noop: async (payload) => {
        const t = (payload as { t?: number } | null)?.t;
        if (typeof t === "number" && t > 0) latencies.push(Date.now() - t);
      },
    },
  });
  tracker = new JobTracker(runner.events);
}

serveParent(
  {},
  {
    startWorker: start,
    drain: async (concurrency: number, n: number) => {
      await start(concurrency);
      return tracker!.waitFor(n);
    },
    /** Resolves with the queue latencies once `n` jobs have completed. */
    latencies: async (n: number) => {
      await tracker!.waitFor(n);
      return latencies;
    },
    stopWorker: async () => {
      await runner?.stop();
      runner = null;
    },
  },
  async () => {
    await runner?.stop();
    await pool.end();
  },
);
