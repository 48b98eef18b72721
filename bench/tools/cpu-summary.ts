/**
 * Summarises a V8 `.cpuprofile` (from BENCH_CPU_PROF=1): where the time went once the process was
 * serving (samples before the first one whose stack holds `--from` are start-up and are skipped).
 *
 *   npx tsx bench/tools/cpu-summary.ts <file.cpuprofile> [--from src/http/webhooks/calcom.ts] [--top 25]
 *
 * Prints self time by function, and "on stack" time by package or source file (each sample counted
 * once per package it passes through), which is what says e.g. how much of a request is Prisma.
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"));
if (!file) throw new Error("usage: cpu-summary.ts <file.cpuprofile> [--from <url part>] [--top N]");
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const from = opt("--from");
const top = Number(opt("--top") ?? 25);

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** A package name (node_modules/@scope/name), a source file (src/…, otel/…), node:internal or a V8 pseudo-frame. */
function bucket(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const m = /\/(src|otel|bench|test)\/(.*)$/.exec(url);
  if (m) return `${m[1]}/${m[2]}`;
  if (url.startsWith("node:")) return url.replace(/^node:internal\/([^/]+).*/, "node:$1");
  return url;
}

const stackOf = (id: number): Node[] => {
  const out: Node[] = [];
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) out.push(byId.get(cur)!);
  return out;
};

let t = 0;
let startAt = from ? Number.POSITIVE_INFINITY : 0;
const times: number[] = [];
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] ?? 0;
  times.push(t);
  if (from && startAt === Number.POSITIVE_INFINITY && stackOf(profile.samples[i]!).some((n) => n.callFrame.url.includes(from))) startAt = t;
}

const self = new Map<string, number>();
const selfByPackage = new Map<string, number>();
const onStack = new Map<string, number>();
let total = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  if (times[i]! < startAt) continue;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const stack = stackOf(profile.samples[i]!);
  const leaf = stack[0]!.callFrame;
  if (leaf.functionName === "(idle)") {
    idle += dt;
    continue;
  }
  total += dt;
  const key = `${leaf.functionName || "(anonymous)"}  ${bucket(leaf.url, leaf.functionName)}:${leaf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + dt);
  // Native frames (socket writes, hashing) count for the nearest JavaScript caller's package.
  const owner = stack.find((n) => n.callFrame.url) ?? stack[0]!;
  const pkg = bucket(owner.callFrame.url, owner.callFrame.functionName);
  selfByPackage.set(pkg, (selfByPackage.get(pkg) ?? 0) + dt);
  for (const b of new Set(stack.map((n) => bucket(n.callFrame.url, n.callFrame.functionName)))) onStack.set(b, (onStack.get(b) ?? 0) + dt);
}

const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * v) / total).toFixed(1).padStart(6)} %  ${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle${from ? `, from the first ${from} frame` : ""}; percentages of busy time`);
show("self time by function", self);
show("self time by package (native frames count for their JavaScript caller)", selfByPackage);
show("on stack, by package / source file", onStack);
