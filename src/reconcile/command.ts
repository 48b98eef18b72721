/**
 * `calsync reconcile <companyId>|--all [--since ISO] [--json]`: reconciles bookings in the
 * foreground, in this process (no worker needed), one company after another, each a MANUAL run in
 * the ledger like any other. Recovered changes are applied before the command returns. A progress
 * bar per company on stderr (when it is a terminal), then a summary table, or JSON, on stdout.
 */
import { randomUUID } from "node:crypto";
import { context, propagation } from "@opentelemetry/api";
import { Presets, SingleBar } from "cli-progress";
import { emit, table, type OutputOptions } from "../cli/output.ts";
import { db, pool } from "../db/client.ts";
import { CORRELATION_BAGGAGE_KEY } from "../log.ts";
import { executeReconcile, startLocalReconcile } from "./runs.ts";

export interface ReconcileCommandOptions {
  companyId?: string | undefined;
  all?: boolean | undefined;
  since?: Date | undefined;
  /** --json and colour (Default: neither). */
  output?: OutputOptions;
  /** Where the result goes instead of stdout (tests). */
  out?: (text: string) => void;
  /** Draw progress bars on stderr (Default: when stderr is a terminal and not --json). */
  progress?: boolean;
}

export interface ReconcileRow {
  company: string;
  companyId: string;
  status: string;
  runId?: string;
  since?: string | null;
  until?: string | null;
  pages?: number;
  fetched?: number;
  recovered?: number;
  updated?: number;
  unchanged?: number;
  durationMs?: number | null;
  error?: string | null;
}

/** Runs the reconciles and prints the summary; resolves to true when every company succeeded. */
export async function runReconcileCommand(options: ReconcileCommandOptions): Promise<boolean> {
  const output = options.output ?? { json: false, colour: false };
  const companies = options.all
    ? await db().company.findMany({ where: { connection: { isNot: null } }, select: { id: true, slug: true }, orderBy: { slug: "asc" } })
    : await db().company.findMany({ where: { id: options.companyId ?? "" }, select: { id: true, slug: true } });
  if (!options.all && companies.length === 0) throw new Error(`no company with id ${options.companyId}`);
  const progress = options.progress ?? (Boolean(process.stderr.isTTY) && !output.json);

  const correlationId = `cli-${randomUUID()}`;
  const baggage = propagation.createBaggage({ [CORRELATION_BAGGAGE_KEY]: { value: correlationId } });
  const rows: ReconcileRow[] = [];
  await context.with(propagation.setBaggage(context.active(), baggage), async () => {
    for (const company of companies) rows.push(await reconcileOne(company, options.since ?? null, progress));
  });

  const totals = rows.reduce((s, r) => ({ recovered: s.recovered + (r.recovered ?? 0), updated: s.updated + (r.updated ?? 0) }), { recovered: 0, updated: 0 });
  const result = { companies: rows, missedWebhooksRecovered: totals.recovered + totals.updated };
  const human = () => {
    if (companies.length === 0) return "no connected companies";
    const t = table(output, ["company", "status", "since", "pages", "fetched", "recovered", "updated", "unchanged", "duration"]);
    for (const r of rows) {
      t.push([
        r.company,
        r.status,
        r.since ?? "",
        r.pages ?? "",
        r.fetched ?? "",
        r.recovered ?? "",
        r.updated ?? "",
        r.unchanged ?? "",
        r.durationMs === undefined || r.durationMs === null ? "" : `${(r.durationMs / 1000).toFixed(2)} s`,
      ]);
    }
    const lines = [t.toString(), `missed webhooks recovered: ${result.missedWebhooksRecovered} (${totals.recovered} new bookings, ${totals.updated} changes)`];
    for (const r of rows) if (r.error) lines.push(`${r.company}: ${r.error}`);
    return lines.join("\n");
  };
  if (options.out) options.out(output.json ? JSON.stringify(result) : human());
  else emit(output, result, human);
  return rows.every((r) => r.status === "SUCCEEDED");
}

async function reconcileOne(company: { id: string; slug: string }, since: Date | null, progress: boolean): Promise<ReconcileRow> {
  const base = { company: company.slug, companyId: company.id };
  const connected = await db().calcomConnection.count({ where: { companyId: company.id } });
  if (!connected) return { ...base, status: "NOT CONNECTED", error: "not connected to Cal.com (connectCalcom first)" };
  const { run, created } = await startLocalReconcile(company.id, since);
  if (!created) {
    return { ...base, status: "BUSY", runId: run.id, error: `a reconcile is already ${run.status.toLowerCase()} (run ${run.id}); try again when it has finished` };
  }
  const bar = progress
    ? new SingleBar({ format: `${company.slug} [{bar}] {percentage}% | {fetched} bookings, {recovered} recovered`, hideCursor: true, stream: process.stderr }, Presets.shades_classic)
    : null;
  bar?.start(100, 0, { fetched: 0, recovered: 0 });
  // Ctrl-C: pages already applied stay applied; the ledger says the run was interrupted.
  const onSignal = () => {
    bar?.stop();
    void pool()
      .query(
        `UPDATE reconcile_runs SET status = 'FAILED', finished_at = now(), error = 'interrupted', error_class = 'Interrupted'
          WHERE id = $1 AND status = 'RUNNING'`,
        [run.id],
      )
      .catch(() => {});
  };
  process.prependOnceListener("SIGINT", onSignal);
  try {
    const final =
      (await executeReconcile(run.id, {
        attempt: 1,
        maxAttempts: 1,
        onProgress: (r, p) => bar?.update(Math.round(p * 100), { fetched: r.fetched, recovered: r.recovered + r.updated }),
      })) ?? (await db().reconcileRun.findUniqueOrThrow({ where: { id: run.id } }));
    return {
      ...base,
      status: final.status,
      runId: final.id,
      since: final.since?.toISOString() ?? null,
      until: final.until?.toISOString() ?? null,
      pages: final.pages,
      fetched: final.fetched,
      recovered: final.recovered,
      updated: final.updated,
      unchanged: final.unchanged,
      durationMs: final.durationMs,
      error: final.error ? `${final.errorClass}: ${final.error}` : null,
    };
  } finally {
    process.removeListener("SIGINT", onSignal);
    bar?.stop();
  }
}
