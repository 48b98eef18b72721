/** Result rows and the markdown table. */
import { fmt } from "./stats.ts";
import type { BenchServer } from "./db.ts";

export interface Row {
  section: string;
  metric: string;
  value: number | null;
  /** The floor measured in the same run, or null when there is none (shown as the note). */
  floor: number | null;
  /** value / floor, unless given (e.g. an overhead). */
  ratio?: number | null;
  note?: string;
}

export interface SectionContext {
  server: BenchServer;
  quick: boolean;
  /** Scales a full-run count down for BENCH_QUICK (about 5×). */
  n: (full: number) => number;
  /** Directory for CPU profiles of the processes under test, when asked for (BENCH_CPU_PROF=1). */
  cpuProfDir: string | undefined;
  log: (line: string) => void;
}

function ratioOf(r: Row): number | null {
  if (r.ratio !== undefined) return r.ratio;
  if (r.value === null || r.floor === null || r.floor === 0) return null;
  return r.value / r.floor;
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = ["| section | metric | value | floor | ratio | note |", "|---|---|---:|---:|---:|---|"];
  for (const r of rows) {
    const ratio = ratioOf(r);
    lines.push(
      `| ${r.section} | ${r.metric} | ${fmt(r.value)} | ${r.floor === null ? "–" : fmt(r.floor)} | ${ratio === null ? "–" : `${ratio.toFixed(2)}×`} | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n");
}
