/**
 * Issue 13's targets, each read from the run's rows and reported as a ratio: the figure over the
 * floor for ratio targets, the figure over the bound for absolute ones (sync: today's figures when
 * the issue was written). Never weakened here: a missed target is printed as missed.
 */
import type { Row } from "./report.ts";
import { fmt } from "./stats.ts";

interface Target {
  what: string;
  /** Matches the row's section and metric. */
  row: (r: Row) => boolean;
  /** "ratio": value/floor; "value": value/bound. */
  of: "ratio" | "value";
  /** At least (≥) or at most (≤) `bound`. */
  need: "≥" | "≤";
  bound: number;
}

const metric = (section: string, re: RegExp) => (r: Row) => r.section === section && re.test(r.metric);

const TARGETS: Target[] = [
  { what: "end to end: steady rate with a flat backlog vs the naive floor", row: metric("e2e", /^highest steady/), of: "ratio", need: "≥", bound: 0.8 },
  { what: "ingest: webhooks/s at 64 connections vs the naive floor", row: metric("ingest", /^webhooks\/s accepted, c=64 \(vs naive\)/), of: "ratio", need: "≥", bound: 1.0 },
  { what: "ingest: p99 vs the naive floor's", row: metric("ingest", /^p99 latency ms \(vs naive\)/), of: "ratio", need: "≤", bound: 1.2 },
  { what: "ingest: p99 at 8 connections, ms", row: metric("e2e", /^ingest p99 ms at 8/), of: "value", need: "≤", bound: 20 },
  { what: "process: webhook→processed p50 at 200/s, ms (c=4)", row: metric("process", /p50 ms at 200\/s, c=4/), of: "value", need: "≤", bound: 25 },
  { what: "process: webhook→processed p99 at 200/s, ms (c=4)", row: metric("process", /p99 ms at 200\/s, c=4/), of: "value", need: "≤", bound: 100 },
  { what: "graphql: 50-service page req/s vs pg", row: metric("graphql", /^50-service page req\/s/), of: "ratio", need: "≥", bound: 0.5 },
  { what: "graphql: coverageReport req/s vs pg", row: metric("graphql", /^coverageReport req\/s/), of: "ratio", need: "≥", bound: 0.8 },
  { what: "sync: import 11 event types, ms (was 40)", row: metric("sync", /^import 11 event types/), of: "value", need: "≤", bound: 40 },
  { what: "sync: import 10,000 event types, ms (was 1,900)", row: metric("sync", /^import 10,000 event types/), of: "value", need: "≤", bound: 1_900 },
  { what: "sync: import 10,000 peak RSS delta, MB (was 216)", row: metric("sync", /^import 10,000: peak RSS/), of: "value", need: "≤", bound: 216 },
  { what: "sync: re-sync 10,000 unchanged, ms (was 930)", row: metric("sync", /^re-sync 10,000 unchanged/), of: "value", need: "≤", bound: 930 },
];

/** The targets table: each target, its figure, the ratio it is judged by, and met or missed. */
export function targetsTable(rows: readonly Row[]): string {
  const lines = ["| target | need | figure | ratio | |", "|---|---:|---:|---:|---|"];
  for (const t of TARGETS) {
    const r = rows.find(t.row);
    if (!r || r.value === null) {
      lines.push(`| ${t.what} | ${t.need} ${fmt(t.bound)}${t.of === "ratio" ? "×" : ""} | – | – | not measured in this run |`);
      continue;
    }
    const ratio = t.of === "ratio" ? (r.floor ? r.value / r.floor : null) : r.value / t.bound;
    const judged = t.of === "ratio" ? ratio : r.value;
    const met = judged !== null && (t.need === "≥" ? judged >= t.bound : judged <= t.bound);
    const figure = t.of === "ratio" ? `${fmt(r.value)} vs ${fmt(r.floor)}` : fmt(r.value);
    lines.push(
      `| ${t.what} | ${t.need} ${fmt(t.bound)}${t.of === "ratio" ? "×" : ""} | ${figure} | ${ratio === null ? "–" : `${ratio.toFixed(2)}×`} | ${met ? "met" : "**missed**"} |`,
    );
  }
  return lines.join("\n");
}
