import { execFile } from "node:child_process";
import { secretContext } from "../src/secrets.ts";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { db, pool } from "../src/db/client.ts";
import { secretBox } from "../src/calcom/for-company.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { createCompany } from "./factories.ts";
import { connectedCompany, gid, startSyncHarness, type SyncHarness } from "./support/sync.ts";

// These tests start real calsync processes (tsx compiles the app first): slow on a busy 2-core CI.
vi.setConfig({ testTimeout: 120_000 });

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());

const root = fileURLToPath(new URL("..", import.meta.url));

/** `calsync …` in a child process against this file's database and the fake Cal.com. */
function calsync(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      {
        cwd: root,
        env: {
          PATH: process.env["PATH"],
          DATABASE_URL: h.t.databaseUrl,
          ADMIN_TOKEN,
          SECRETS_KEY,
          CALCOM_API_URL: h.fake.url,
          CALCOM_RATE_LIMIT_PER_MINUTE: "100000",
          LOG_LEVEL: "silent",
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe("calsync sync", () => {
  it("syncs one company in the foreground and prints a summary", async () => {
    const { company } = await connectedCompany(h.fake, 11);

    const { code, stdout, stderr } = await calsync("sync", gid("Company", company.id));

    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/company.*status.*fetched.*created.*updated.*unchanged.*remoteDeleted.*held.*duration/);
    expect(stdout).toMatch(new RegExp(`${company.slug}\\s*│\\s*SUCCEEDED\\s*│\\s*11\\s*│\\s*11\\s*│\\s*0\\s*│\\s*0\\s*│\\s*0\\s*│\\s*0\\s*│\\s*\\d+\\.\\d\\d s`));
    expect(stdout).not.toContain("held, not imported");
    expect(await db().syncRun.findFirstOrThrow({ where: { companyId: company.id } })).toMatchObject({
      trigger: "MANUAL", status: "SUCCEEDED", created: 11,
    });
    expect(await db().service.count({ where: { companyId: company.id, syncStatus: "SYNCED" } })).toBe(11);
  }, 60_000);

  it("says which event types it held back for orphans, and where to go next", async () => {
    const { company } = await connectedCompany(h.fake, [
      { title: "Hot Stone Massage", slug: "hot-stone-massage", lengthInMinutes: 60 },
      { title: "Fango", slug: "fango", lengthInMinutes: 20 },
    ]);
    await db().service.create({ data: { companyId: company.id, name: "Hot-Stone-Massage", durationMinutes: 60, syncStatus: "NEVER_SYNCED" } });

    const human = await calsync("sync", gid("Company", company.id));
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`${company.slug}\\s*│\\s*SUCCEEDED\\s*│\\s*2\\s*│\\s*1\\s*│\\s*0\\s*│\\s*0\\s*│\\s*0\\s*│\\s*1\\s*│`));
    expect(human.stdout).toContain(`${company.slug}: 1 event type(s) held, not imported: an orphaned service may be the same offer (calsync orphans ${company.id} --suggest)`);

    const json = await calsync("sync", gid("Company", company.id), "--json");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).runs).toEqual([expect.objectContaining({ company: company.slug, status: "SUCCEEDED", created: 0, unchanged: 1, heldForLinking: 1 })]);
    expect(await db().service.count({ where: { companyId: company.id } })).toBe(2);
  }, 60_000);

  it("syncs every connected company with --all and exits 1 when one fails", async () => {
    const good = await connectedCompany(h.fake, 2);
    const bad = await connectedCompany(h.fake, 2);
    await pool().query("UPDATE calcom_connections SET api_key_encrypted = $1 WHERE company_id = $2", [secretBox().encrypt("cal_live_revoked", secretContext("calcom_api_key", bad.company.id)), bad.company.id]);
    await createCompany(); // not connected: not part of --all

    const { code, stdout } = await calsync("sync", "--all");

    expect(code).toBe(1);
    expect(stdout).toMatch(new RegExp(`${good.company.slug}\\s*│\\s*SUCCEEDED\\s*│\\s*2\\s*│\\s*2`));
    expect(stdout).toMatch(new RegExp(`${bad.company.slug}\\s*│\\s*FAILED`));
    expect(stdout).toContain(`${bad.company.slug}: InvalidCredentials:`);
    expect(stdout).not.toContain("cal_live_revoked");
  }, 60_000);

  it("refuses a company id and --all together, and neither", async () => {
    const both = await calsync("sync", "--all", gid("Company", "0190a0a0-0000-7000-8000-000000000000"));
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("either a <companyId> or --all");
    const neither = await calsync("sync");
    expect(neither.code).toBe(1);
  }, 60_000);
});
