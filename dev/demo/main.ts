/**
 * `npm run demo [-- --reset]`: calsync with something to look at, from a fresh clone, offline.
 *
 * 1. A Cal.com stand-in on loopback (calcom-standin.ts) holding the old system's event types.
 * 2. calsync itself (`calsync serve`, API + worker) on its own embedded PostgreSQL in the demo
 *    DATA_DIR (Default: ./.demo-data), pointed at the stand-in.
 * 3. The old system's data set (dev/data/legacy.ts): 7 companies, one connected to Cal.com with 36
 *    services, 11 linked and 25 orphans (coverage 30.56 %), loaded through the import as an
 *    operator would; then each linked service is synced from Cal.com (`syncService`).
 *
 *    Not a full company sync at start: it would import the event types no orphan may be (a team
 *    meeting, a staff course) and move the data set's starting point away from the old system's
 *    30.56 %. (It would not swallow the orphans' event types: a sync holds those, see
 *    src/orphans/claims.ts.) The scheduled full sync runs daily at 04:00 in the demo (SYNC_CRON);
 *    "Sync now" on the dashboard runs one whenever the operator wants.
 * 4. A trickle of signed webhooks (trickle.ts), so the dashboard, /metrics and traces move.
 *
 * Everything is on 127.0.0.1. OTEL_EXPORTER_OTLP_ENDPOINT exports traces as with `npm start`
 * (otel/register.ts is loaded first); TRACE_UI_URL then defaults to Jaeger's trace page.
 * `--reset` deletes the demo DATA_DIR first. Dev tooling: production code never imports this.
 */
import { rmSync } from "node:fs";
import { resolve } from "node:path";

const started = Date.now();
const args = new Set(process.argv.slice(2));
if (args.has("--help") || args.has("-h")) {
  process.stdout.write(
    "npm run demo [-- --reset]\n\n  --reset   start over: delete the demo DATA_DIR (Default ./.demo-data) first\n\n" +
      "Environment: PORT (Default 4000), DATA_DIR, DEMO_WEBHOOK_INTERVAL_MS (Default 3000), OTEL_EXPORTER_OTLP_ENDPOINT, TRACE_UI_URL\n",
  );
  process.exit(0);
}

// The demo is dev tooling: it sets calsync's configuration before calsync reads it.
const dataDir = resolve(process.env["DATA_DIR"] ?? ".demo-data");
process.env["DATA_DIR"] = dataDir;
process.env["LOG_LEVEL"] ??= "warn";
process.env["SYNC_CRON"] ??= "0 4 * * *";
// Missed webhooks (the trickle loses one in ten) are recovered every 5 minutes in the demo.
process.env["RECONCILE_CRON"] ??= "*/5 * * * *";
if (process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]) process.env["TRACE_UI_URL"] ??= "http://localhost:16686/trace/{traceId}";
const interval = Number(process.env["DEMO_WEBHOOK_INTERVAL_MS"] ?? 3000);
if (args.has("--reset")) rmSync(dataDir, { recursive: true, force: true });

const { mkdirSync, readFileSync } = await import("node:fs");
mkdirSync(dataDir, { recursive: true });
const { legacyEventTypes, loadLegacyDataSet, legacyCompanies } = await import("../data/legacy.ts");
const { startStandin, DEMO_API_KEY } = await import("./calcom-standin.ts");
const standin = await startStandin(dataDir, legacyEventTypes);
process.env["CALCOM_API_URL"] = standin.url;

const { serve } = await import("../../src/http/server.ts");
const { db } = await import("../../src/db/client.ts");
const { requestServiceSync } = await import("../../src/sync/service-sync.ts");
const { encodeGlobalID } = await import("@pothos/plugin-relay");
const { startTrickle } = await import("./trickle.ts");

const DEMO_WEBHOOK_SECRET = "whsec_demo_0123456789abcdef0123456789";

const server = await serve({ worker: true });
const connectedSlug = legacyCompanies().find((c) => c.calcom)!.slug;
let connected = await db().company.findUnique({ where: { slug: connectedSlug } });
if (!connected) {
  process.stdout.write("  loading the old system's catalogue (7 companies, 36 services) …\n");
  const loaded = await loadLegacyDataSet({ apiKey: DEMO_API_KEY, webhookSecret: DEMO_WEBHOOK_SECRET });
  connected = await db().company.findUniqueOrThrow({ where: { id: loaded.connected.id } });
  const linked = await db().service.findMany({ where: { companyId: connected.id, calcomEventTypeId: { not: null } } });
  for (const s of linked) await requestServiceSync(s.id, s.companyId, s.calcomEventTypeId!);
  // The worker in this process refreshes them from the stand-in; wait until they have settled.
  for (let i = 0; i < 300; i++) {
    if ((await db().service.count({ where: { companyId: connected.id, syncStatus: "PENDING" } })) === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const companyId = encodeGlobalID("Company", connected.id);
const linkedEventTypes = async () =>
  (await db().service.findMany({ where: { companyId: connected.id, syncStatus: "SYNCED", calcomEventTypeId: { not: null } }, select: { calcomEventTypeId: true } }))
    .map((s) => s.calcomEventTypeId!)
    .filter((id) => id > 0);
const trickle = startTrickle({
  url: `${server.url}/webhooks/calcom/${encodeURIComponent(companyId)}`,
  secret: DEMO_WEBHOOK_SECRET,
  eventTypeIds: linkedEventTypes,
  intervalMs: interval,
  onSent: () => standin.save(),
  calcom: { fake: standin.fake, apiKey: DEMO_API_KEY },
  loseOneIn: 10,
  onLost: () => standin.save(),
});
const stop = () => {
  trickle.stop();
  standin.save();
};
process.prependOnceListener("SIGINT", stop);
process.prependOnceListener("SIGTERM", stop);

const adminToken = readFileSync(resolve(dataDir, "admin-token"), "utf8").trim();
const otel = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"];
process.stdout.write(
  [
    `  calsync demo ready in ${((Date.now() - started) / 1000).toFixed(1)} s  (data in ${dataDir})`,
    "",
    `  Dashboard:    ${server.url}/dashboard`,
    `  Admin token:  ${adminToken}`,
    `  GraphiQL:     ${server.url}/graphql   (header  Authorization: Bearer <admin token>)`,
    `  Metrics:      ${server.url}/metrics`,
    `  Cal.com:      ${standin.url}/v2/event-types  (the stand-in, API v2 shapes)`,
    otel ? `  Traces:       exported to ${otel}; trace ids link to ${process.env["TRACE_UI_URL"]}` : "  Traces:       set OTEL_EXPORTER_OTLP_ENDPOINT (see otel/README.md) to export them",
    "",
    "  Try:",
    `   1. Open the dashboard, paste the admin token, open "${connected.name}": coverage 30.56 %.`,
    "   2. Orphans: link a suggestion, accept all above a score (preview first), export one to Cal.com,",
    "      mark the rest legacy; undo any step from its notice. Coverage reaches 100 %.",
    "   3. Sync runs: \"Sync now\" and watch the progress live. It imports the Cal.com event types no",
    "      orphan may be (a team meeting, a staff course) and holds the others for the Orphans tab.",
    `   4. Webhook events: a signed booking webhook arrives every ~${(interval / 1000).toFixed(0)} s (created, rescheduled, cancelled, no-show).`,
    "      One in ten is lost on the way, as Cal.com does not retry: every 5 minutes (or now, with",
    `      CALCOM_API_URL=${standin.url} DATA_DIR=${dataDir} npx calsync reconcile --all) reconciliation`,
    '      recovers them: "Missed webhooks recovered" on the dashboard.',
    `   5. The CLI beside it:  DATA_DIR=${dataDir} npx calsync coverage   (or orphans, sync, --json)`,
    "",
    "  Ctrl+C stops the demo; `npm run demo` resumes it, `npm run demo -- --reset` starts over.",
    "",
    "",
  ].join("\n"),
);
