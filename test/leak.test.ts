/**
 * Leak test: the webhook, sync, orphan and token flows (in-process) and the demo (a real child
 * process exporting its spans over OTLP) run with every log line and span captured; the run fails
 * if any fixture secret, API key, token, attendee name, e-mail or phone number appears in them
 * (or in /metrics, or in an answer that is not the one meant to show a new token).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeGlobalID } from "@pothos/plugin-relay";
import { db } from "../src/db/client.ts";
import { createCompany } from "./factories.ts";
import { PERSONAL_DATA, bookingCancelled, bookingCreated, bookingNoShowUpdated, serialize } from "./fixtures/webhooks.ts";
import { ADMIN_TOKEN } from "./support/app.ts";
import { spanExporter } from "./support/otel-setup.ts";
import { OtlpReceiver } from "./support/otlp-receiver.ts";
import { gid, startSyncHarness, SYNC_COMPANY, type SyncHarness } from "./support/sync.ts";
import { drainJobs } from "./support/worker.ts";
import { captureLogs, deliver, runWebhookJobs, scopedPath } from "./support/webhooks.ts";

const API_KEY = `cal_test_LEAKCANARY_${randomUUID().replaceAll("-", "")}`;
const WRONG_KEY = `cal_test_LEAKCANARY_wrong_${randomUUID().replaceAll("-", "")}`;
const WEBHOOK_SECRET = `whsec_LEAKCANARY_${randomUUID()}`;
const PHONE = "+49 170 5550123";
const TEAM = 4711;

let h: SyncHarness;
beforeAll(async () => {
  h = await startSyncHarness({ env: { LOG_LEVEL: "debug" } });
  h.fake.addApiKey(API_KEY);
  h.fake.addTeam(TEAM, [API_KEY]);
  h.fake.addEventTypes({ teamId: TEAM }, [{ title: "Consultation", slug: "consultation" }, { title: "Follow-up", slug: "follow-up" }]);
});
afterAll(async () => h.close());

/** The attendee data of the fixtures, with a phone number added. */
const attendee = { email: PERSONAL_DATA.attendeeEmail, name: PERSONAL_DATA.attendeeName, phoneNumber: PHONE, timeZone: "Europe/Berlin" };

function findLeaks(haystacks: Record<string, string>, needles: string[]): string[] {
  const found: string[] = [];
  for (const [where, text] of Object.entries(haystacks)) {
    for (const n of needles) if (text.includes(n)) found.push(`${where} contains ${n.slice(0, 24)}…`);
  }
  return found;
}

describe("in-process flows", () => {
  it("webhook, sync, orphan and token flows leave no secret or personal data in logs, spans, metrics or answers", async () => {
    spanExporter().reset();
    const logs = captureLogs();
    const answers: string[] = [];
    const gql = async (query: string, variables: Record<string, unknown> = {}, token?: string) => {
      const res = await h.t.gql(query, variables, token);
      answers.push(res.text);
      return res.body;
    };
    let companyToken = "";
    try {
      const company = await createCompany();
      const companyId = gid("Company", company.id);

      // Connect: a wrong key first (Cal.com refuses it), then the right one, with a team.
      await gql(`mutation($i: ConnectCalcomInput!) { connectCalcom(input: $i) { id } }`, { i: { companyId, apiKey: WRONG_KEY, webhookSecret: WEBHOOK_SECRET, teamId: TEAM } });
      const ok = await gql(`mutation($i: ConnectCalcomInput!) { connectCalcom(input: $i) { id calcomConnected } }`, { i: { companyId, apiKey: API_KEY, webhookSecret: WEBHOOK_SECRET, teamId: TEAM } });
      expect(ok.data.connectCalcom.calcomConnected).toBe(true);

      // Sync, with Cal.com failing once on the way.
      h.fake.fault({ path: `/v2/teams/${TEAM}/event-types`, status: 500 });
      await gql(SYNC_COMPANY, { id: companyId });
      await drainJobs();
      const synced = await db().service.findMany({ where: { companyId: company.id } });
      expect(synced).toHaveLength(2);

      // Webhooks: booked, cancelled, no-show; one with a wrong signature; then processed.
      const eventTypeId = synced[0]!.calcomEventTypeId!;
      const path = scopedPath(company.id);
      for (const body of [
        bookingCreated({ uid: "bk_leak_1", eventTypeId, extra: { attendees: [attendee] } }),
        bookingCancelled({ uid: "bk_leak_1", eventTypeId, extra: { attendees: [attendee] } }),
        bookingNoShowUpdated({ uid: "bk_leak_1", extra: { attendees: [{ ...attendee, noShow: true }] } }),
      ]) {
        const res = await deliver(h.t, path, body, { secret: WEBHOOK_SECRET });
        answers.push(res.text);
        expect(res.status).toBe(202);
      }
      answers.push((await deliver(h.t, path, serialize(bookingCreated({ uid: "bk_leak_2", extra: { attendees: [attendee] } })), { secret: "wrong-secret-0123456789" })).text);
      await runWebhookJobs();

      // Orphans: a new service, suggestions, link, export, legacy, import.
      const created = await gql(`mutation($i: CreateServiceInput!) { createService(input: $i) { id } }`, { i: { companyId, name: "Consultation 2", durationMinutes: 30 } });
      await gql(`query($id: ID!) { company(id: $id) { linkSuggestions { score service { id } } } }`, { id: companyId });
      await gql(`mutation($id: ID!) { exportServiceToCalcom(serviceId: $id) { syncStatus } }`, { id: created.data.createService.id });
      const orphan = await gql(`mutation($i: CreateServiceInput!) { createService(input: $i) { id } }`, { i: { companyId, name: "Orphan for legacy" } });
      expect(orphan.data.createService.id).toBeTruthy();
      await gql(`mutation($id: ID!) { markOrphanedServicesLegacy(companyId: $id, dryRun: false) { count } }`, { id: companyId });
      await gql(`mutation($id: ID!, $c: String!) { importServices(companyId: $id, format: CSV, content: $c, dryRun: false) { created } }`, {
        id: companyId, c: "externalId,name,durationMinutes\next-1,Imported,45\n",
      });
      await drainJobs();

      // Tokens: created (the one answer meant to show it), used, revoked, refused.
      const minted = await h.t.gql(`mutation($id: ID!) { createApiToken(companyId: $id) { token tokenId } }`, { id: companyId });
      companyToken = minted.body.data.createApiToken.token;
      await gql(`{ companies(first: 5) { totalCount } }`, {}, companyToken);
      await gql(`mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`, { id: minted.body.data.createApiToken.tokenId });
      await gql(`{ companies(first: 5) { totalCount } }`, {}, companyToken);
      expect(decodeGlobalID(minted.body.data.createApiToken.tokenId).typename).toBe("ApiToken");
      answers.push((await h.t.http().get("/metrics")).text);
    } finally {
      logs.stop();
    }

    // The capture saw the flows.
    expect(logs.lines.some((l) => l.includes("webhook stored"))).toBe(true);
    expect(logs.lines.some((l) => l.includes("sync succeeded"))).toBe(true);
    const spans = spanExporter().getFinishedSpans();
    expect(spans.length).toBeGreaterThan(50);
    const spanText = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })));
    const needles = [API_KEY, WRONG_KEY, WEBHOOK_SECRET, companyToken, ADMIN_TOKEN, PHONE, ...Object.values(PERSONAL_DATA)];
    expect(findLeaks({ logs: logs.lines.join("\n"), spans: spanText, answers: answers.join("\n") }, needles)).toEqual([]);
  });
});

describe("the demo", () => {
  it("runs (stand-in, import, sync, signed webhooks) without a secret or attendee in its logs or exported spans", async () => {
    const receiver = new OtlpReceiver();
    const endpoint = await receiver.start();
    const dataDir = mkdtempSync(join(tmpdir(), "calsync-demo-leak-"));
    chmodSync(dataDir, 0o755);
    const child = spawn(process.execPath, ["--import", "./otel/register.ts", "dev/demo/main.ts"], {
      env: {
        PATH: process.env["PATH"], DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "debug", DEMO_WEBHOOK_INTERVAL_MS: "100",
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "50",
        OTEL_METRICS_EXPORTER: "none",
      },
    });
    let out = "";
    try {
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if ((out.match(/webhook event processed/g) ?? []).length >= 5) resolve();
        };
        child.stdout.on("data", check);
        child.once("exit", (code) => reject(new Error(`demo exited (${code}): ${out.slice(-2000)}`)));
        // A guard, not a wait: fail with the demo's own words rather than a bare test timeout.
        setTimeout(() => reject(new Error(`demo processed too few webhooks: ${out.slice(-3000)}`)), 120_000).unref();
      });
      await receiver.waitFor((all) => all.some((s) => s.kind === 5)); // a job's CONSUMER span arrived
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
      await receiver.close();
    }
    const { DEMO_API_KEY } = await import("../dev/demo/calcom-standin.ts");
    const demoText = await import("node:fs").then((fs) => fs.readFileSync(new URL("../dev/demo/main.ts", import.meta.url), "utf8"));
    const demoSecret = /DEMO_WEBHOOK_SECRET = "([^"]+)"/.exec(demoText)![1]!;
    const guests = /const GUESTS = \[([^\]]+)\]/.exec(await import("node:fs").then((fs) => fs.readFileSync(new URL("../dev/demo/trickle.ts", import.meta.url), "utf8")))![1]!
      .split(",").map((g) => g.trim().replaceAll('"', ""));
    const emails = guests.map((n) => `${n.toLowerCase().replace(" ", ".")}@example.com`);
    // The banner prints the admin token on purpose (it is the operator's own terminal); nothing else may.
    const adminToken = /Admin token:\s+(\S+)/.exec(out)?.[1];
    const logs = out.split("\n").filter((l) => !l.includes("Admin token:")).join("\n");
    const spans = JSON.stringify(receiver.spans);
    expect(receiver.spans.length).toBeGreaterThan(20);
    const needles = [DEMO_API_KEY, demoSecret, ...guests, ...emails, ...(adminToken ? [adminToken] : [])];
    expect(findLeaks({ "demo output": logs, "demo spans": spans }, needles)).toEqual([]);
    rmSync(dataDir, { recursive: true, force: true });
  }, 180_000);
});
