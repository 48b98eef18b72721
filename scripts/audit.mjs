#!/usr/bin/env node
/**
 * CI's dependency audit: `npm audit --audit-level=high`, minus the exceptions written down with
 * their reasons in .ci/audit-exceptions.json. Fails on any high or critical advisory that has no
 * written exception, and on an exception that no longer matches anything (stale reasons rot).
 *
 * When the registry offers no audit endpoint (an offline mirror answers 405 or 404, or there is
 * no network), the audit cannot run: that is said in one line and the step passes, unless
 * AUDIT_REQUIRED=1 (set it where the public registry is reachable, so a broken endpoint fails).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

// AUDIT_EXCEPTIONS / AUDIT_REPORT: other files, for the script's own test.
const exceptionsFile = process.env.AUDIT_EXCEPTIONS ?? new URL("../.ci/audit-exceptions.json", import.meta.url);
const exceptions = JSON.parse(readFileSync(exceptionsFile, "utf8")).exceptions ?? {};

let raw;
if (process.env.AUDIT_REPORT) {
  raw = readFileSync(process.env.AUDIT_REPORT, "utf8");
} else {
  try {
    raw = execFileSync("npm", ["audit", "--audit-level=high", "--json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch (err) {
    raw = err.stdout ?? ""; // npm audit exits non-zero when it finds something
  }
}
let report;
try {
  report = JSON.parse(raw);
} catch {
  report = { error: { summary: "no JSON from npm audit" } };
}

const unreachable = report.error || report.statusCode || report.message;
if (unreachable && !report.vulnerabilities) {
  const why = report.message || report.error?.summary || report.error?.detail || `HTTP ${report.statusCode}`;
  console.log(`npm audit could not run: ${why}`);
  process.exit(process.env.AUDIT_REQUIRED === "1" ? 1 : 0);
}

const found = [];
const used = new Set();
for (const [name, v] of Object.entries(report.vulnerabilities ?? {})) {
  if (!["high", "critical"].includes(v.severity)) continue;
  const advisories = v.via.filter((x) => typeof x === "object");
  // A package flagged only through its dependencies is reported where the advisory is.
  if (advisories.length === 0) continue;
  for (const a of advisories) {
    if (!["high", "critical"].includes(a.severity)) continue;
    const id = String(a.url ?? a.source).split("/").pop();
    const key = Object.keys(exceptions).find((k) => k === id || k === a.url);
    if (key) {
      used.add(key);
      console.log(`excepted ${a.severity} ${name} ${id}: ${exceptions[key]}`);
    } else {
      found.push(`${a.severity} ${name} ${id}: ${a.title} (${a.url})`);
    }
  }
}
const stale = Object.keys(exceptions).filter((k) => !used.has(k));
for (const f of found) console.log(`NOT EXCEPTED: ${f}`);
for (const s of stale) console.log(`stale exception (matches nothing now; remove it): ${s}`);
console.log(`npm audit: ${found.length} high/critical advisories without a written exception, ${used.size} excepted`);
process.exit(found.length > 0 || stale.length > 0 ? 1 : 0);
