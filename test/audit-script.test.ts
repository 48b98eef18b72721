/**
 * The CI audit step (scripts/audit.mjs): a high advisory fails it unless an exception with its
 * reason is written down; a stale exception fails it too; an unreachable audit endpoint is said.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "calsync-audit-"));

function run(report: unknown, exceptions: Record<string, string>, env: Record<string, string> = {}) {
  const r = join(dir, `r-${Math.random()}.json`);
  const e = join(dir, `e-${Math.random()}.json`);
  writeFileSync(r, JSON.stringify(report));
  writeFileSync(e, JSON.stringify({ exceptions }));
  return new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, ["scripts/audit.mjs"], { cwd: root, env: { PATH: process.env["PATH"], AUDIT_REPORT: r, AUDIT_EXCEPTIONS: e, ...env } }, (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout }));
  });
}

const advisory = { source: 1, name: "left-pad", title: "Prototype pollution", url: "https://github.com/advisories/GHSA-aaaa-bbbb-cccc", severity: "high" };
const report = { vulnerabilities: { "left-pad": { name: "left-pad", severity: "high", via: [advisory] }, "uses-left-pad": { name: "uses-left-pad", severity: "high", via: ["left-pad"] } } };

describe("scripts/audit.mjs", () => {
  it("fails on a high advisory without a written exception, and passes with one", async () => {
    const bare = await run(report, {});
    expect(bare.code).toBe(1);
    expect(bare.out).toContain("NOT EXCEPTED: high left-pad GHSA-aaaa-bbbb-cccc");
    const excepted = await run(report, { "GHSA-aaaa-bbbb-cccc": "only the CLI's test fixtures use it" });
    expect(excepted.code).toBe(0);
    expect(excepted.out).toContain("only the CLI's test fixtures use it");
  });

  it("fails on a stale exception, and reports an unreachable endpoint (failing only with AUDIT_REQUIRED=1)", async () => {
    expect((await run({ vulnerabilities: {} }, { "GHSA-gone": "fixed upstream" })).code).toBe(1);
    const offline = { message: "405 Method Not Allowed - POST https://registry.example/-/npm/v1/security/advisories/bulk", statusCode: 405 };
    const soft = await run(offline, {});
    expect(soft).toMatchObject({ code: 0 });
    expect(soft.out).toMatch(/^npm audit could not run: 405/);
    expect((await run(offline, {}, { AUDIT_REQUIRED: "1" })).code).toBe(1);
  });
});
