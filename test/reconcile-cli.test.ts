/**
 * `calsync reconcile` as a user runs it: a real process against this file's database and the
 * Cal.com stand-in (summary table, --json on stdout, exit status, argument errors).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { db } from "../src/db/client.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "./support/app.ts";
import { connectedCompany, gid, startSyncHarness, type SyncHarness } from "./support/sync.ts";

vi.setConfig({ testTimeout: 120_000 });

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness();
});
afterAll(async () => h.close());

const root = fileURLToPath(new URL("..", import.meta.url));

function calsync(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      {
        cwd: root,
        env: {
          PATH: process.env["PATH"], DATABASE_URL: h.t.databaseUrl, ADMIN_TOKEN, SECRETS_KEY,
          CALCOM_API_URL: h.fake.url, CALCOM_RATE_LIMIT_PER_MINUTE: "100000", LOG_LEVEL: "silent",
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe("calsync reconcile", () => {
  it("recovers one company's missed bookings, prints the summary; --json gives the same as JSON", async () => {
    const { company, apiKey } = await connectedCompany(h.fake);
    await db().calcomConnection.update({ where: { companyId: company.id }, data: { connectedAt: new Date(Date.now() - 3_600_000) } });
    const [first] = h.fake.addBookings(apiKey, 3);

    const human = await calsync("reconcile", gid("Company", company.id));
    expect(human.stderr).toBe("");
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/company.*status.*since.*pages.*fetched.*recovered.*updated.*unchanged.*duration/);
    expect(human.stdout).toMatch(new RegExp(`${company.slug}\\s*│\\s*SUCCEEDED\\s*│[^│]+│\\s*1\\s*│\\s*3\\s*│\\s*3\\s*│\\s*0\\s*│\\s*0\\s*│`));
    expect(human.stdout).toContain("missed webhooks recovered: 3 (3 new bookings, 0 changes)");
    expect(await db().booking.count({ where: { companyId: company.id } })).toBe(3);

    h.fake.cancelBooking(apiKey, first!.uid);
    const json = await calsync("reconcile", company.id, "--since", new Date(Date.now() - 7_200_000).toISOString(), "--json");
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as { companies: Record<string, unknown>[]; missedWebhooksRecovered: number };
    expect(result).toMatchObject({ missedWebhooksRecovered: 1, companies: [{ companyId: company.id, status: "SUCCEEDED", recovered: 0, updated: 1, unchanged: 2 }] });
    expect(await db().booking.findFirstOrThrow({ where: { companyId: company.id, uid: first!.uid } })).toMatchObject({ status: "CANCELLED" });
  });

  it("refuses a company id and --all together, neither, and a --since that is not a date", async () => {
    const both = await calsync("reconcile", "some-id", "--all");
    expect(both.code).not.toBe(0);
    const neither = await calsync("reconcile");
    expect(neither.stderr).toContain("give either a <companyId> or --all");
    const bad = await calsync("reconcile", "--all", "--since", "yesterday");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("expected an ISO 8601 date");
  });
});
