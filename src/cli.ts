/**
 * `calsync <command>`: serve, worker, migrate, company create, token create, sync, coverage.
 * (orphans arrives with its capability.)
 */
import { Command } from "commander";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { ConfigError } from "./config.ts";
import { registerReconcileCommand } from "./cli/reconcile.ts";
import { logToStderr } from "./log.ts";
import { companyIdArg, withRuntime } from "./cli/common.ts";
import { emit, note, outputOf, paint, table } from "./cli/output.ts";
import { registerTokenRevoke } from "./cli/token-revoke.ts";
import { registerSecretsRotate } from "./cli/secrets-rotate.ts";
import { registerServices } from "./cli/services.ts";
import { registerOrphans } from "./cli/orphans.ts";
import { registerAudit } from "./cli/audit.ts";

export { companyIdArg, withRuntime };

/** serve and worker keep the process alive; every other command exits when it is done. */
let longRunning = false;

export function buildCli(): Command {
  const program = new Command("calsync")
    .description("Cal.com sync service")
    .option("--json", "print results as JSON on stdout (logs and progress stay on stderr)")
    .showHelpAfterError();
  // One-shot commands print their result on stdout; their logs go to stderr (serve and worker,
  // whose output is their log, keep it on stdout).
  program.hook("preAction", (_program, action) => {
    if (action.name() !== "serve" && action.name() !== "worker") logToStderr();
  });

  program
    .command("serve")
    .description("HTTP API (and, unless --no-worker, the job worker) in one process")
    .option("--no-worker", "serve HTTP only; run `calsync worker` elsewhere")
    .action(async (opts: { worker: boolean }) => {
      longRunning = true;
      const { serve } = await import("./http/server.ts");
      await serve({ worker: opts.worker });
    });

  program
    .command("worker")
    .description("run jobs only (scale out by starting more)")
    .action(async () => {
      longRunning = true;
      const { boot } = await import("./runtime.ts");
      const { forceRelease, startWorker } = await import("./worker/runner.ts");
      const { onStopSignals, runShutdown } = await import("./shutdown.ts");
      const { log } = await import("./log.ts");
      const { workerCronItems } = await import("./worker/cron.ts");
      const runtime = await boot();
      const runner = await startWorker({
        concurrency: runtime.env.WORKER_CONCURRENCY,
        cron: workerCronItems(runtime.env),
        reconcileAtStartup: true,
      });
      onStopSignals((signal) => {
        log("worker").info({ signal }, "shutting down");
        return runShutdown({
          steps: [[{ name: "worker", run: () => runner.stop() }], [{ name: "database", run: () => runtime.close() }]],
          onDeadline: () => forceRelease(runner),
        });
      });
    });

  program
    .command("migrate")
    .description("apply pending database migrations and exit")
    .action(async (_opts: unknown, cmd: Command) => {
      const { boot } = await import("./runtime.ts");
      const runtime = await boot({ migrate: false });
      const { migrateDatabase } = await import("./db/setup.ts");
      const applied = await migrateDatabase(runtime.databaseUrl);
      emit(outputOf(cmd), { applied }, () => (applied.length ? `applied: ${applied.join(", ")}` : "database is up to date"));
      await runtime.close();
    });

  const company = program.command("company").description("manage companies");
  company
    .command("create")
    .requiredOption("--name <name>", "display name")
    .requiredOption("--slug <slug>", "unique slug (lowercase, digits, dashes)")
    .action((opts: { name: string; slug: string }, cmd: Command) =>
      withRuntime(async () => {
        const { createCompany } = await import("./domain/companies.ts");
        const created = await createCompany({ name: opts.name, slug: opts.slug }, "cli");
        const id = encodeGlobalID("Company", created.id);
        // stdout carries the id alone, so `ID=$(calsync company create …)` works.
        emit(outputOf(cmd), { id, name: created.name, slug: created.slug }, () => id);
        note(`created company ${created.slug}`);
      }),
    );

  const token = program.command("token").description("manage API tokens");
  token
    .command("create")
    .argument("<companyId>", "Company id (GraphQL id or UUID)", companyIdArg)
    .description("create a company-scoped API token; prints only the token (shown once)")
    .action((companyId: string, _opts: unknown, cmd: Command) =>
      withRuntime(async () => {
        const { createApiToken } = await import("./domain/companies.ts");
        const created = await createApiToken(companyId, "cli");
        emit(outputOf(cmd), { token: created.token, companyId: encodeGlobalID("Company", companyId) }, () => created.token);
      }),
    );

  registerTokenRevoke(token);
  registerSecretsRotate(program);
  registerServices(program);
  registerOrphans(program);
  registerAudit(program);

  program
    .command("sync")
    .description("sync Cal.com event types into services now, in this process (progress bar, summary table)")
    .argument("[companyId]", "Company id (GraphQL id or UUID)", companyIdArg)
    .option("--all", "every connected company, one after another")
    .option("--force", "apply a listing even if it makes more than half of the linked services REMOTE_DELETED")
    .action((companyId: string | undefined, opts: { all?: boolean; force?: boolean }, cmd: Command) => {
      if ((companyId === undefined) === !opts.all) cmd.error("error: give either a <companyId> or --all");
      return withRuntime(async () => {
        const { runSyncCommand } = await import("./sync/command.ts");
        const ok = await runSyncCommand({ companyId, all: opts.all, force: opts.force, output: outputOf(cmd) });
        if (!ok) process.exitCode = 1;
      });
    });

  registerReconcileCommand(program);

  program
    .command("coverage")
    .description("sync coverage per company")
    .action((_opts: unknown, cmd: Command) =>
      withRuntime(async () => {
        const { coverageReport } = await import("./domain/coverage.ts");
        const report = await coverageReport(null);
        const out = outputOf(cmd);
        const t = table(out, ["company", "calcom", "active", "synced", "orphaned", "errored", "legacy", "deleted", "coverage"]);
        // A company without active services has no coverage to speak of (not "0.00 %").
        const percent = (c: (typeof report)["totals"]) => {
          if (c.activeServices === 0) return paint(out, "dim", "no services");
          const text = `${c.coveragePercent.toFixed(2)} %`;
          return paint(out, c.coveragePercent >= 100 ? "green" : c.coveragePercent < 50 ? "red" : "yellow", text);
        };
        const row = (name: string, connected: string, c: (typeof report)["totals"]) => [
          name, connected, c.activeServices, c.syncedServices, c.neverSyncedServices, c.erroredServices,
          c.legacyServices, c.remoteDeletedServices, percent(c),
        ];
        for (const c of report.companies) {
          t.push(row(c.slug, c.calcomConnected ? "yes" : "no", c.coverage));
        }
        t.push(row(`all (${report.totalCompanies})`, `${report.companiesUsingCalcom}`, report.totals));
        const json = {
          totalCompanies: report.totalCompanies,
          companiesUsingCalcom: report.companiesUsingCalcom,
          totals: report.totals,
          companies: report.companies.map((c) => ({
            id: encodeGlobalID("Company", c.companyId),
            slug: c.slug,
            calcomConnected: c.calcomConnected,
            coverage: c.coverage,
          })),
        };
        emit(out, json, () => t.toString());
      }),
    );

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
    // The Wasm schema engine leaves a 10 s timer behind; a one-shot command should not wait for it.
    if (!longRunning) process.exit(process.exitCode ?? 0);
  } catch (err) {
    // With --json a script reads stdout: it gets the error there too, as JSON.
    if (argv.includes("--json")) process.stdout.write(`${JSON.stringify({ error: (err as Error).message })}\n`);
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    process.stderr.write(`calsync: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("src/cli.ts")) {
  await main(process.argv);
}
