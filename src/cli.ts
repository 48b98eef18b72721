/**
 * `calsync <command>`: serve, worker, migrate, company create, token create, sync, coverage.
 * (orphans arrives with its capability.)
 */
import { Command, InvalidArgumentError } from "commander";
import Table from "cli-table3";
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import { ConfigError } from "./config.ts";
import { registerReconcileCommand } from "./cli/reconcile.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Accepts a GraphQL global id (as the API shows) or a raw UUID. */
export function companyIdArg(value: string): string {
  if (UUID.test(value)) return value;
  try {
    const { typename, id } = decodeGlobalID(value);
    if (typename === "Company" && UUID.test(id)) return id;
  } catch {
    /* fall through */
  }
  throw new InvalidArgumentError("expected a Company id (as GraphQL shows it) or a UUID");
}

async function withRuntime<T>(fn: () => Promise<T>): Promise<T> {
  const { boot } = await import("./runtime.ts");
  const runtime = await boot();
  // Ctrl+C during a one-shot command still stops the embedded database it started.
  const interrupt = () => void runtime.close().finally(() => process.exit(130));
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  try {
    return await fn();
  } finally {
    process.removeListener("SIGINT", interrupt);
    process.removeListener("SIGTERM", interrupt);
    await runtime.close();
  }
}

/** serve and worker keep the process alive; every other command exits when it is done. */
let longRunning = false;

export function buildCli(): Command {
  const program = new Command("calsync").description("Cal.com sync service").showHelpAfterError();

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
      const { startWorker } = await import("./worker/runner.ts");
      const { workerCronItems } = await import("./worker/cron.ts");
      const runtime = await boot();
      const runner = await startWorker({
        concurrency: runtime.env.WORKER_CONCURRENCY,
        cron: workerCronItems(runtime.env),
        reconcileAtStartup: true,
      });
      const stop = async () => {
        await runner.stop();
        await runtime.close();
        process.exit(0);
      };
      process.once("SIGTERM", () => void stop());
      process.once("SIGINT", () => void stop());
    });

  program
    .command("migrate")
    .description("apply pending database migrations and exit")
    .action(async () => {
      const { boot } = await import("./runtime.ts");
      const runtime = await boot({ migrate: false });
      const { migrateDatabase } = await import("./db/setup.ts");
      const applied = await migrateDatabase(runtime.databaseUrl);
      console.log(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
      await runtime.close();
    });

  const company = program.command("company").description("manage companies");
  company
    .command("create")
    .requiredOption("--name <name>", "display name")
    .requiredOption("--slug <slug>", "unique slug (lowercase, digits, dashes)")
    .action((opts: { name: string; slug: string }) =>
      withRuntime(async () => {
        const { createCompany } = await import("./domain/companies.ts");
        const created = await createCompany(opts, "cli");
        console.log(`created company ${created.slug}: ${encodeGlobalID("Company", created.id)}`);
      }),
    );

  const token = program.command("token").description("manage API tokens");
  token
    .command("create")
    .argument("<companyId>", "Company id (GraphQL id or UUID)", companyIdArg)
    .description("create a company-scoped API token (printed once)")
    .action((companyId: string) =>
      withRuntime(async () => {
        const { createApiToken } = await import("./domain/companies.ts");
        const { token: plaintext } = await createApiToken(companyId, "cli");
        console.log(plaintext);
      }),
    );

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
        const ok = await runSyncCommand({ companyId, all: opts.all, force: opts.force });
        if (!ok) process.exitCode = 1;
      });
    });

  registerReconcileCommand(program, { companyIdArg, withRuntime });

  program
    .command("coverage")
    .description("sync coverage per company")
    .action(() =>
      withRuntime(async () => {
        const { coverageReport } = await import("./domain/coverage.ts");
        const report = await coverageReport(null);
        const table = new Table({
          head: ["company", "calcom", "active", "synced", "orphaned", "errored", "legacy", "deleted", "coverage"],
        });
        const row = (name: string, connected: string, c: (typeof report)["totals"]) => [
          name, connected, c.activeServices, c.syncedServices, c.neverSyncedServices, c.erroredServices,
          c.legacyServices, c.remoteDeletedServices, `${c.coveragePercent.toFixed(2)} %`,
        ];
        for (const c of report.companies) {
          table.push(row(c.slug, c.calcomConnected ? "yes" : "no", c.coverage));
        }
        table.push(row(`all (${report.totalCompanies})`, `${report.companiesUsingCalcom}`, report.totals));
        console.log(table.toString());
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
