/**
 * `calsync sync <companyId>|--all [--force]`: full syncs in the foreground, in this process (no
 * worker needed), one company after another, each a MANUAL run in the ledger like any other.
 * A progress bar per company on stderr (when it is a terminal), then a summary table on stdout.
 */
import { randomUUID } from "node:crypto";
import { context, propagation } from "@opentelemetry/api";
import { Presets, SingleBar } from "cli-progress";
import { db, pool } from "../db/client.ts";
import { CORRELATION_BAGGAGE_KEY } from "../log.ts";
import { executeRun, startLocalRun } from "./runs.ts";
import { emit, table, type OutputOptions } from "../cli/output.ts";

export interface SyncCommandOptions {
  companyId?: string | undefined;
  all?: boolean | undefined;
  force?: boolean | undefined;
  /** JSON or a table, colour or not (Default: a plain table). */
  output?: OutputOptions;
  /** Where the summary goes (Default: stdout). */
  out?: (text: string) => void;
}

interface Row {
  company: string;
  /** The company's id (UUID), for the commands a row may point to. */
  companyId: string;
  status: string;
  fetched?: number;
  created?: number;
  updated?: number;
  unchanged?: number;
  remoteDeleted?: number;
  heldForLinking?: number;
  durationMs?: number | null;
  error?: string | null;
}

/** Runs the syncs and prints the summary; resolves to true when every company synced. */
export async function runSyncCommand(options: SyncCommandOptions): Promise<boolean> {
  const output = options.output ?? { json: false, colour: false };
  const companies = options.all
    ? await db().company.findMany({ where: { connection: { isNot: null } }, select: { id: true, slug: true }, orderBy: { slug: "asc" } })
    : await db().company.findMany({ where: { id: options.companyId ?? "" }, select: { id: true, slug: true } });
  if (!options.all && companies.length === 0) throw new Error(`no company with id ${options.companyId}`);

  const correlationId = `cli-${randomUUID()}`;
  const baggage = propagation.createBaggage({ [CORRELATION_BAGGAGE_KEY]: { value: correlationId } });
  const rows: Row[] = [];
  await context.with(propagation.setBaggage(context.active(), baggage), async () => {
    for (const company of companies) rows.push(await syncOne(company, options.force ?? false));
  });

  const t = table(output, ["company", "status", "fetched", "created", "updated", "unchanged", "remoteDeleted", "held", "duration"]);
  for (const r of rows) {
    t.push([
      r.company,
      r.status,
      r.fetched ?? "",
      r.created ?? "",
      r.updated ?? "",
      r.unchanged ?? "",
      r.remoteDeleted ?? "",
      r.heldForLinking ?? "",
      r.durationMs === undefined || r.durationMs === null ? "" : `${(r.durationMs / 1000).toFixed(2)} s`,
    ]);
  }
  const human = () =>
    [
      companies.length === 0 ? "no connected companies" : t.toString(),
      ...rows.filter((r) => r.error).map((r) => `${r.company}: ${r.error}`),
      ...rows
        .filter((r) => r.heldForLinking)
        .map((r) => `${r.company}: ${r.heldForLinking} event type(s) held, not imported: an orphaned service may be the same offer (calsync orphans ${r.companyId} --suggest)`),
    ].join("\n");
  if (options.out) options.out(output.json ? JSON.stringify({ runs: rows }) : human());
  else emit(output, { runs: rows }, human);
  return rows.every((r) => r.status === "SUCCEEDED");
}

async function syncOne(company: { id: string; slug: string }, force: boolean): Promise<Row> {
  const connected = await db().calcomConnection.count({ where: { companyId: company.id } });
  if (!connected) return { company: company.slug, companyId: company.id, status: "NOT CONNECTED", error: "not connected to Cal.com (connectCalcom first)" };
  const { run, created } = await startLocalRun(company.id, "MANUAL", force);
  if (!created) {
    return { company: company.slug, companyId: company.id, status: "BUSY", error: `a sync is already ${run.status.toLowerCase()} (run ${run.id}); try again when it has finished` };
  }

  const bar = new SingleBar(
    { format: `${company.slug} [{bar}] {percentage}% | {fetched} event types`, hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(100, 0, { fetched: 0 });
  // Ctrl-C: the open transaction dies with the process (nothing half-applied); record that in the
  // ledger rather than leave the run RUNNING. Prepended, so the update is sent before the CLI's own
  // handler closes the database (best effort; an abandoned run is reaped later anyway).
  const onSignal = () => {
    bar.stop();
    void pool()
      .query(
        `UPDATE sync_runs SET status = 'FAILED', finished_at = now(), error = 'interrupted', error_class = 'Interrupted'
          WHERE id = $1 AND status = 'RUNNING'`,
        [run.id],
      )
      .catch(() => {});
  };
  process.prependOnceListener("SIGINT", onSignal);
  try {
    const outcome = await executeRun(run.id, {
      attempt: 1,
      maxAttempts: 1,
      onProgress: (p) => bar.update(Math.round(p.progress * 100), { fetched: p.fetched }),
    });
    const final = outcome?.run ?? (await db().syncRun.findUniqueOrThrow({ where: { id: run.id } }));
    return {
      company: company.slug,
      companyId: company.id,
      status: final.status,
      fetched: final.fetched,
      created: final.created,
      updated: final.updated,
      unchanged: final.unchanged,
      remoteDeleted: final.remoteDeleted,
      heldForLinking: final.heldForLinking,
      durationMs: final.durationMs,
      error: final.error ? `${final.errorClass}: ${final.error}` : null,
    };
  } finally {
    process.removeListener("SIGINT", onSignal);
    bar.stop();
  }
}
