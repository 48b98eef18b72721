/**
 * `calsync audit <companyId> [--limit N]`: the company's audit trail, newest first: who (admin,
 * token:<id>, cli, system) did what to which service, with the correlation id. `--json` gives the
 * rows with their before/after.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { type Command, InvalidArgumentError } from "commander";
import { companyIdArg, withRuntime } from "./common.ts";
import { emit, outputOf, table } from "./output.ts";

function limitArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError("expected a whole number from 1 to 10000");
  return n;
}

export function registerAudit(program: Command): void {
  program
    .command("audit")
    .description("a company's audit trail, newest first")
    .argument("<companyId>", "Company id (GraphQL id or UUID)", companyIdArg)
    .option("--limit <n>", "rows to show (Default: 50)", limitArg)
    .action((companyId: string, opts: { limit?: number }, cmd: Command) =>
      withRuntime(async () => {
        const { db } = await import("../db/client.ts");
        const rows = await db().auditEvent.findMany({
          where: { companyId },
          orderBy: [{ createdAt: "desc" }, { id: "desc" }],
          take: opts.limit ?? 50,
        });
        const out = outputOf(cmd);
        const json = rows.map((r) => ({
          id: encodeGlobalID("AuditEvent", r.id),
          createdAt: r.createdAt,
          actor: r.actor,
          action: r.action,
          correlationId: r.correlationId,
          details: r.details,
        }));
        emit(out, json, () => {
          const t = table(out, ["when", "actor", "action", "service", "change", "correlation id"]);
          for (const r of rows) {
            const d = (r.details ?? {}) as { before?: { name?: string; syncStatus?: string } | null; after?: { name?: string; syncStatus?: string } };
            const change = d.after?.syncStatus ? `${d.before?.syncStatus ?? "-"} -> ${d.after.syncStatus}` : "";
            t.push([r.createdAt.toISOString(), r.actor, r.action, d.after?.name ?? "", change, r.correlationId ?? ""]);
          }
          return t.toString();
        });
      }),
    );
}
