/**
 * Child for bench/tools/ingest-tail.ts: the calsync HTTP app as bench/children/calsync.ts builds it
 * (no worker), plus timelines of what a request can wait on: GC pauses (PerformanceObserver), event
 * loop stalls (a 1 ms timer's lateness), each request's arrival and finish on the server (by
 * x-request-id), and each ingest-pool query's call, connection acquired and result.
 * All times are epoch ms (performance.timeOrigin + now), comparable with the parent's.
 */
import { Session } from "node:inspector/promises";
import type { AddressInfo } from "node:net";
import { PerformanceObserver, constants } from "node:perf_hooks";
import type pg from "pg";
import { env } from "../../src/config.ts";
import { connectDatabase, disconnectDatabase, inboxPool } from "../../src/db/client.ts";
import { buildApp } from "../../src/http/app.ts";
import { configureLogger } from "../../src/log.ts";
import { serveParent } from "../lib/child.ts";
import { POOL_SIZE } from "../lib/env.ts";

const now = () => performance.timeOrigin + performance.now();
const config = env();
configureLogger({ level: config.LOG_LEVEL });
connectDatabase(config.DATABASE_URL!, { max: POOL_SIZE, ...(process.env["INBOX_MAX"] ? { inboxMax: Number(process.env["INBOX_MAX"]) } : {}) });
const app = await buildApp({ adminToken: config.ADMIN_TOKEN! });

const gcs: { t: number; d: number; kind: string }[] = [];
const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
    gcs.push({ t: performance.timeOrigin + e.startTime, d: e.duration, kind: KINDS[kind] ?? String(kind) });
  }
}).observe({ entryTypes: ["gc"] });

const stalls: { t: number; gap: number }[] = [];
let last = performance.now();
setInterval(() => {
  const p = performance.now();
  if (p - last > 6) stalls.push({ t: performance.timeOrigin + last, gap: p - last });
  last = p;
}, 1).unref();

const requests = new Map<string, { arrive: number; finish: number }>();
app.server.prependListener("request", (req, res) => {
  const id = req.headers["x-request-id"];
  if (typeof id !== "string") return;
  const r = { arrive: now(), finish: 0 };
  requests.set(id, r);
  res.once("finish", () => (r.finish = now()));
});

const queries: { call: number; acquired: number; done: number }[] = [];
const inbox = inboxPool() as unknown as { connect: (...a: unknown[]) => unknown };
const connect = inbox.connect.bind(inbox) as (...a: unknown[]) => unknown;
inbox.connect = (...args: unknown[]) => {
  const cb = args[0];
  if (typeof cb !== "function") return connect(...args);
  const rec = { call: now(), acquired: 0, done: 0 };
  return connect((err: unknown, client: pg.PoolClient, release: unknown) => {
    rec.acquired = now();
    if (client) {
      const rel = client.release.bind(client);
      client.release = ((e?: Error | boolean) => {
        rec.done = now();
        queries.push(rec);
        return rel(e);
      }) as typeof client.release;
    }
    (cb as (...a: unknown[]) => void)(err, client, release);
  });
};

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}
const session = new Session();

await app.listen({ host: "127.0.0.1", port: 0 });
const port = (app.server.address() as AddressInfo).port;
serveParent(
  { origin: `http://127.0.0.1:${port}` },
  {
    reset: () => {
      gcs.length = 0;
      stalls.length = 0;
      requests.clear();
      queries.length = 0;
    },
    /** Sampling heap profile of everything allocated (collected or not) from now until heapStop. */
    heapStart: async () => {
      session.connect();
      await session.post("HeapProfiler.startSampling", {
        samplingInterval: 2048,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      } as never);
    },
    /** Bytes allocated since heapStart, by function (self) and by source file/package (on stack). */
    heapStop: async () => {
      const { profile } = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: HeapNode } };
      session.disconnect();
      const self = new Map<string, number>();
      const onStack = new Map<string, number>();
      let total = 0;
      const walk = (n: HeapNode, stack: Set<string>, parent = "") => {
        const f = n.callFrame;
        const where = f.url ? f.url.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, "$1").replace(/^.*\/(src|bench|otel)\//, "$1/") : "(native)";
        const frame = `${f.functionName || "(anon)"} ${where}:${f.lineNumber + 1}`;
        // A native frame (String.prototype.replace, Map…) is named with its caller.
        const key = f.url ? frame : `${frame} <- ${parent}`;
        self.set(key, (self.get(key) ?? 0) + n.selfSize);
        total += n.selfSize;
        const next = new Set(stack).add(where);
        for (const w of next) if (n.selfSize) onStack.set(w, (onStack.get(w) ?? 0) + n.selfSize);
        for (const c of n.children) walk(c, next, frame);
      };
      walk(profile.head, new Set());
      const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
      return { total, self: top(self, 30), onStack: top(onStack, 25) };
    },
    dump: () => ({ gcs, stalls, requests: Object.fromEntries(requests), queries }),
  },
  async () => {
    await app.close();
    await disconnectDatabase();
  },
);
