/**
 * Child: the calsync HTTP app (as `calsync serve` builds it), listening on a free port, with the
 * worker started on request. Configuration comes from the environment (see lib/env.ts).
 */
import type { AddressInfo } from "node:net";
import { env } from "../../src/config.ts";
import { connectDatabase, disconnectDatabase } from "../../src/db/client.ts";
import { buildApp } from "../../src/http/app.ts";
import { configureLogger } from "../../src/log.ts";
import { startWorker, type WorkerHandle } from "../../src/worker/runner.ts";
import { serveParent } from "../lib/child.ts";
import { JobTracker } from "../lib/jobs.ts";
import { POOL_SIZE } from "../lib/env.ts";

const config = env();
configureLogger({ level: config.LOG_LEVEL });
connectDatabase(config.DATABASE_URL!, { max: POOL_SIZE });
const app = await buildApp({ adminToken: config.ADMIN_TOKEN! });
await app.listen({ host: "127.0.0.1", port: 0 });
const port = (app.server.address() as AddressInfo).port;

let runner: WorkerHandle | null = null;
let tracker: JobTracker | null = null;

serveParent(
  { origin: `http://127.0.0.1:${port}` },
  {
    startWorker: async (concurrency: number) => {
      runner = await startWorker({ concurrency });
      tracker = new JobTracker(runner.events);
    },
    /** Starts the worker and resolves once `n` jobs have completed. */
    drain: async (concurrency: number, n: number) => {
      runner = await startWorker({ concurrency });
      tracker = new JobTracker(runner.events);
      return tracker.waitFor(n);
    },
    stopWorker: async () => {
      await runner?.stop();
      runner = null;
    },
    memory: () => ({ rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 }),
  },
  async () => {
    await app.close();
    await runner?.stop();
    await disconnectDatabase();
  },
);
