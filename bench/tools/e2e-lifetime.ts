/**
 * Does calsync (API + worker, c=4, one process) get costlier over its lifetime, as the e2e search
 * runs probe after probe against one process? Rounds of `n` deliveries (closed loop, 16
 * connections), the inbox reset between rounds as e2e.ts does; per round: CPU per delivery of the
 * calsync process and of the sending process, and calsync's memory.
 *
 *   npx tsx bench/tools/e2e-lifetime.ts [rounds=8] [n=3000]
 */
import { benchServer, benchPool, freshDatabase, resetInbox } from "../lib/db.ts";
import { Child } from "../lib/child.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "../lib/env.ts";
import { closedLoop } from "../lib/load.ts";
import { bookingShots, webhookTarget } from "../lib/webhooks.ts";

const rounds = Number(process.argv[2] ?? 8);
const n = Number(process.argv[3] ?? 3000);
const server = await benchServer();
const database = await freshDatabase(server, "e2elife");
const pool = benchPool(database.url, 2);
let child: Child<{ origin: string }> | undefined;
try {
  useDatabase(database.url);
  const target = await webhookTarget();
  await releaseDatabase();
  await pool.query("CREATE TABLE bench_webhook_events (LIKE webhook_events INCLUDING ALL)");
  child = await Child.start<{ origin: string }>("calsync.ts", { env: calsyncEnv(database.url) });
  await child.call("startWorker", 4);
  const received = async () => (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_events WHERE status = 'RECEIVED'")).rows[0]!.n;
  for (let r = 1; r <= rounds; r++) {
    await resetInbox(pool, ["bench_webhook_events"]);
    const shots = bookingShots(target, `r${r}`, n);
    const c0 = await child.cpuMs();
    const s0 = process.cpuUsage();
    const t0 = performance.now();
    const res = await closedLoop({ origin: child.info.origin, concurrency: 16, shots, expect: 202 });
    while ((await received()) > 0) await new Promise((x) => setTimeout(x, 100));
    const dt = (performance.now() - t0) / 1000;
    const s1 = process.cpuUsage(s0);
    const mem = await child.call<{ rss: number }>("memory");
    console.log(
      `round ${r}: ${(n / dt).toFixed(0)}/s, calsync ${((await child.cpuMs()) - c0) / n} ms CPU/delivery, sender ${((s1.user + s1.system) / 1000 / n).toFixed(3)} ms, ` +
        `rss ${(mem.rss / 1e6).toFixed(0)} MB, non-202 ${n - (res.statuses[202] ?? 0)}, load ${(await import("node:os")).loadavg()[0]!.toFixed(1)}`,
    );
  }
} finally {
  await child?.stop();
  await pool.end();
  await database.drop();
  await server.stop();
}
