/**
 * sync: a company's full sync from the Cal.com stand-in (the fake, a real HTTP server in this
 * process), run in-process the way `calsync sync` runs it, each size in its own child process so
 * its RSS is clean: import of 11 and of 10,000 event types (time, peak RSS over the RSS before),
 * then a re-sync with nothing changed (time; no service row may be written). Floor: fetching the
 * same listing and JSON-parsing it (`fetch` + `json()`), so the ratio is the engine's own cost.
 */
import { randomUUID } from "node:crypto";
import { FakeCalcom } from "../test/support/fake-calcom.ts";
import { connectCompany, createCompany } from "../test/factories.ts";
import { Child } from "./lib/child.ts";
import { freshDatabase } from "./lib/db.ts";
import { calsyncEnv, releaseDatabase, useDatabase } from "./lib/env.ts";
import type { Row, SectionContext } from "./lib/report.ts";
import { MB, median } from "./lib/stats.ts";
import type { Measured } from "./children/sync-run.ts";

/** The old system's import of its 11 event types (for comparison). */
const OLD_SYSTEM_11_MS = 500;

interface EngineResult {
  imports: Measured[];
  resyncs: Measured[];
  written: number;
  fetched: number;
}

export async function sync(ctx: SectionContext): Promise<Row[]> {
  const big = ctx.quick ? 2_000 : 10_000;
  const repeatsSmall = 5;
  const fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
  await fake.start();
  const database = await freshDatabase(ctx.server, "sync");
  const env = calsyncEnv(database.url, { CALCOM_API_URL: fake.url });
  const children: Child[] = [];
  const start = async (label: string) => {
    const child = await Child.start("sync-run.ts", {
      env,
      execArgv: ["--expose-gc"],
      cpuProfDir: ctx.cpuProfDir ? `${ctx.cpuProfDir}/sync-${label}` : undefined,
    });
    children.push(child);
    return child;
  };
  try {
    useDatabase(database.url, { CALCOM_API_URL: fake.url });
    const company = async (eventTypes: number) => {
      const apiKey = `cal_bench_${randomUUID().replaceAll("-", "")}`;
      fake.addApiKey(apiKey);
      fake.addEventTypes(apiKey, eventTypes);
      const c = await createCompany();
      await connectCompany(c.id, apiKey);
      return { id: c.id, apiKey };
    };
    const warmSmall = await company(11);
    const warmBig = await company(11);
    const small = await company(11);
    const large = await company(big);
    await releaseDatabase();

    const floorChild = await start("floor");
    const floorSmall = (await floorChild.call<{ fetches: Measured[] }>("floor", warmSmall.apiKey, small.apiKey, repeatsSmall)).fetches;
    const floorLarge = (await floorChild.call<{ fetches: Measured[] }>("floor", warmSmall.apiKey, large.apiKey, 1)).fetches;
    await floorChild.stop();

    const smallChild = await start("11");
    const s = await smallChild.call<EngineResult>("engine", warmSmall.id, small.id, repeatsSmall);
    await smallChild.stop();
    const largeChild = await start(String(big));
    const l = await largeChild.call<EngineResult>("engine", warmBig.id, large.id, 1);
    await largeChild.stop();
    if (s.fetched !== 11 || l.fetched !== big) throw new Error(`sync: fetched ${s.fetched} and ${l.fetched}`);

    const t = (m: Measured[]) => median(m.map((x) => x.ms));
    const rss = (m: Measured[]) => (m[0]!.rssPeak - m[0]!.rssBefore) / MB;
    const bigLabel = big.toLocaleString("en-US");
    ctx.log(`  sync 11: import ${t(s.imports).toFixed(1)} ms, unchanged ${t(s.resyncs).toFixed(1)} ms; ${bigLabel}: import ${t(l.imports).toFixed(0)} ms, unchanged ${t(l.resyncs).toFixed(0)} ms, +${rss(l.imports).toFixed(0)} MB`);
    const rows: Row[] = [
      { section: "sync", metric: "import 11 event types, ms", value: t(s.imports), floor: t(floorSmall), note: `median of ${repeatsSmall}; the old system took ${OLD_SYSTEM_11_MS} ms (${(OLD_SYSTEM_11_MS / t(s.imports)).toFixed(0)}× this); floor: fetch + json()` },
      { section: "sync", metric: "import 11: peak RSS delta, MB", value: rss(s.imports), floor: rss(floorSmall), ratio: null, note: "V8 heap growth, not data: no meaningful ratio at this size" },
      { section: "sync", metric: "re-sync 11 unchanged, ms", value: t(s.resyncs), floor: t(floorSmall), note: `service rows written: ${s.written}` },
      { section: "sync", metric: `import ${bigLabel} event types, ms`, value: t(l.imports), floor: t(floorLarge) },
      { section: "sync", metric: `import ${bigLabel}: peak RSS delta, MB`, value: rss(l.imports), floor: rss(floorLarge), note: "floor: RSS delta of fetch + json()" },
      { section: "sync", metric: `re-sync ${bigLabel} unchanged, ms`, value: t(l.resyncs), floor: t(floorLarge), note: `service rows written: ${l.written}` },
    ];
    if (s.written || l.written) throw new Error(`sync: an unchanged re-sync wrote ${s.written + l.written} service rows`);
    return rows;
  } finally {
    for (const child of children) await child.stop();
    await fake.close();
    await database.drop();
  }
}
