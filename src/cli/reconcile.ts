/**
 * `calsync reconcile <companyId>|--all [--since ISO] [--json]` (see reconcile/command.ts).
 */
import { InvalidArgumentError, type Command } from "commander";
import { companyIdArg, withRuntime } from "./common.ts";
import { outputOf } from "./output.ts";

function isoArg(value: string): Date {
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) {
    throw new InvalidArgumentError("expected an ISO 8601 date or date-time, e.g. 2026-11-01T00:00:00Z");
  }
  if (d.getTime() > Date.now()) throw new InvalidArgumentError("must not be in the future");
  return d;
}

export function registerReconcileCommand(program: Command): void {
  program
    .command("reconcile")
    .description("recover missed webhooks: compare bookings with Cal.com's and apply what calsync missed, in this process (progress bar, summary)")
    .argument("[companyId]", "Company id (GraphQL id or UUID)", companyIdArg)
    .option("--all", "every connected company, one after another")
    .option("--since <iso>", "bookings changed since this instant (Default: the watermark of the last complete pass)", isoArg)
    .action((companyId: string | undefined, opts: { all?: boolean; since?: Date }, cmd: Command) => {
      if ((companyId === undefined) === !opts.all) cmd.error("error: give either a <companyId> or --all");
      return withRuntime(async () => {
        const { runReconcileCommand } = await import("../reconcile/command.ts");
        const ok = await runReconcileCommand({ companyId, all: opts.all, since: opts.since, output: outputOf(cmd) });
        if (!ok) process.exitCode = 1;
      });
    });
}
