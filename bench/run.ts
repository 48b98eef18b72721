/**
 * `npm run bench`: every figure beside a floor measured in the same run on the same machine and
 * database, and their ratio (CONTRACT §7). Speed and memory targets live here as ratios, never as
 * timed assertions in tests.
 *
 *   BENCH_QUICK=1            about 5× smaller counts (a smoke run)
 *   BENCH_ONLY=ingest,sync   run only these sections (ingest, process, e2e, sync, graphql, memory)
 *   BENCH_DATABASE_URL=…     PostgreSQL server to use (user may CREATE DATABASE); else the local
 *                            server on 127.0.0.1:5432 if it answers, else an embedded one
 *   BENCH_CPU_PROF=1         write V8 CPU profiles of the processes under test to bench/results/prof/
 *
 * Prints a markdown table and writes it to bench/results/latest.md (a quick or partial run writes
 * latest-quick.md / latest-partial.md instead, so a smoke run never replaces the full figures); a
 * full run also writes bench/RESULTS.md, with the machine it ran on. The last table lists issue
 * 13's targets, each with its figure, ratio and met/missed.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { benchServer } from "./lib/db.ts";
import { markdownTable, type Row, type SectionContext } from "./lib/report.ts";
import { targetsTable } from "./lib/targets.ts";
import { e2e } from "./e2e.ts";
import { graphql } from "./graphql.ts";
import { ingest } from "./ingest.ts";
import { memory } from "./memory.ts";
import { processing } from "./process.ts";
import { sync } from "./sync.ts";

const SECTIONS: Record<string, (ctx: SectionContext) => Promise<Row[]>> = { ingest, process: processing, e2e, sync, graphql, memory };

const quick = ["1", "true", "yes"].includes(process.env["BENCH_QUICK"] ?? "");
const only = (process.env["BENCH_ONLY"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
for (const name of only) if (!(name in SECTIONS)) throw new Error(`BENCH_ONLY: unknown section ${name} (known: ${Object.keys(SECTIONS).join(", ")})`);
const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));
const cpuProfDir = process.env["BENCH_CPU_PROF"] ? `${resultsDir}prof` : undefined;

const log = (line: string) => process.stderr.write(`${line}\n`);
const server = await benchServer();
const ctx: SectionContext = {
  server,
  quick,
  n: (full) => (quick ? Math.max(1, Math.round(full / 5)) : full),
  cpuProfDir,
  log,
};

const started = performance.now();
const loadAtStart = loadavg()[0]!;
const rows: Row[] = [];
const failures: string[] = [];
try {
  for (const [name, section] of Object.entries(SECTIONS)) {
    if (only.length && !only.includes(name)) continue;
    const t = performance.now();
    log(`== ${name}`);
    try {
      rows.push(...(await section(ctx)));
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      log(`!! ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    log(`   ${name} took ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
} finally {
  await server.stop();
}

const header = [
  `# calsync bench${quick ? " (BENCH_QUICK)" : ""}`,
  "",
  `${new Date().toISOString()} · Node ${process.version} · ${cpus().length} cores · ${Math.round(totalmem() / 2 ** 30)} GB · ` +
    `PostgreSQL: ${server.kind} · ${((performance.now() - started) / 1000).toFixed(0)} s`,
  "",
  `Machine: ${cpus()[0]?.model ?? "unknown CPU"} × ${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GB, ${platform()} ${release()}; ` +
    `load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end ` +
    "(above the core count, other work shared the machine: absolute figures suffer, the ratios less so).",
  "",
  "ratio = value / floor (throughput: below 1 is slower than the floor; times, latencies, memory: above 1 is slower/bigger).",
  "",
].join("\n");
const table = `${header}${markdownTable(rows)}\n\n## Targets (issue 13)\n\n${targetsTable(rows)}\n${failures.length ? `\nFailed sections:\n\n${failures.map((f) => `    ${f.split("\n").join("\n    ")}`).join("\n\n")}\n` : ""}`;
process.stdout.write(`\n${table}`);
mkdirSync(resultsDir, { recursive: true });
const file = `latest${quick ? "-quick" : ""}${only.length ? "-partial" : ""}.md`;
writeFileSync(`${resultsDir}${file}`, table);
log(`written to bench/results/${file}`);
// A full run (every section, not quick) is the record: bench/RESULTS.md.
if (!quick && !only.length) {
  writeFileSync(fileURLToPath(new URL("./RESULTS.md", import.meta.url)), table);
  log("written to bench/RESULTS.md");
}
process.exit(failures.length ? 1 : 0);
