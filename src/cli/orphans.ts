/**
 * `calsync orphans <companyId> [--suggest] [--accept-above S] [--mark-legacy] [--dry-run]`: the
 * company's orphans (active services without a Cal.com event type), with their link suggestions,
 * as a table or, with `--json`, one JSON document.
 *
 * Order of work: `--accept-above S` links every orphan to its best unambiguous suggestion scoring
 * at least S (one transaction); then `--mark-legacy` marks the orphans still left LEGACY (one
 * transaction). With `--dry-run` both only say what they would do (and the legacy list leaves out
 * what the accept step would have linked). The table then shows the orphans that remain.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import type { Command } from "commander";
import { companyIdArg, withRuntime } from "./common.ts";
import { emit, note, outputOf, paint, table } from "./output.ts";
import { scoreArg, serviceJson } from "./services.ts";

interface OrphansOptions {
  suggest?: boolean;
  acceptAbove?: number;
  markLegacy?: boolean;
  dryRun?: boolean;
}

export function registerOrphans(program: Command): void {
  program
    .command("orphans")
    .description("list a company's orphaned services; accept link suggestions, mark the rest legacy")
    .argument("<companyId>", "Company id (GraphQL id or UUID)", companyIdArg)
    .option("--suggest", "show each orphan's best Cal.com event types (score 0..1; * = ambiguous)")
    .option("--accept-above <score>", "link every orphan to its best unambiguous suggestion scoring at least <score>", scoreArg)
    .option("--mark-legacy", "mark the orphans left LEGACY (they leave the coverage's active count)")
    .option("--dry-run", "show what --accept-above / --mark-legacy would do; change nothing")
    .action((companyId: string, opts: OrphansOptions, cmd: Command) =>
      withRuntime(async () => {
        const { db } = await import("../db/client.ts");
        const { acceptLinkSuggestions } = await import("../orphans/link.ts");
        const { markOrphanedServicesLegacy } = await import("../orphans/legacy.ts");
        const { linkSuggestions, orphansOf } = await import("../orphans/suggestions.ts");
        const { coverageByCompany } = await import("../domain/coverage.ts");
        const { NotFoundError } = await import("../domain/errors.ts");
        const out = outputOf(cmd);
        const dryRun = Boolean(opts.dryRun);

        const company = await db().company.findUnique({ where: { id: companyId }, select: { id: true, slug: true, name: true, connection: { select: { companyId: true } } } });
        if (!company) throw new NotFoundError("Company");

        const { withCliCorrelation } = await import("../orphans/caller.ts");
        // One correlation id for the command: its links and legacy marks share it in the audit trail.
        const { accepted, legacy } = await withCliCorrelation(async () => ({
          accepted: opts.acceptAbove === undefined ? null : await acceptLinkSuggestions(companyId, opts.acceptAbove, dryRun, "cli"),
          legacy: opts.markLegacy ? await markOrphanedServicesLegacy(companyId, dryRun, "cli") : null,
        }));
        const wouldLink = new Set(dryRun ? (accepted?.suggestions.map((s) => s.service.id) ?? []) : []);
        if (legacy && dryRun) {
          legacy.services = legacy.services.filter((s) => !wouldLink.has(s.id));
          legacy.count = legacy.services.length;
        }

        const orphans = await orphansOf(companyId);
        const suggestions = opts.suggest ? await linkSuggestions(companyId) : [];
        if (opts.suggest && !company.connection) note("the company is not connected to Cal.com: no suggestions (export needs a connection too)");
        const coverage = (await coverageByCompany([companyId])).get(companyId)!;

        const json = {
          company: { id: encodeGlobalID("Company", company.id), slug: company.slug, name: company.name, calcomConnected: company.connection !== null },
          dryRun,
          accepted: accepted?.suggestions.map((s) => ({
            service: serviceJson(s.service),
            calcomEventTypeId: s.calcomEventTypeId,
            title: s.title,
            score: s.score,
          })) ?? null,
          legacy: legacy ? { dryRun: legacy.dryRun, count: legacy.count, services: legacy.services.map(serviceJson) } : null,
          orphans: orphans.map((s) => ({
            ...serviceJson(s),
            ...(opts.suggest
              ? {
                  suggestions: suggestions
                    .filter((x) => x.service.id === s.id)
                    .map((x) => ({ calcomEventTypeId: x.calcomEventTypeId, title: x.title, slug: x.slug, lengthInMinutes: x.lengthInMinutes, score: x.score, rank: x.rank, ambiguous: x.ambiguous })),
                }
              : {}),
          })),
          coverage,
        };

        emit(out, json, () => {
          const parts: string[] = [];
          const would = dryRun ? "would " : "";
          if (accepted) {
            parts.push(paint(out, "bold", `${dryRun ? "would link" : "linked"} ${accepted.suggestions.length} service(s) at score >= ${opts.acceptAbove}:`));
            const t = table(out, ["service", "externalId", "Cal.com event type", "score"]);
            for (const s of accepted.suggestions) t.push([s.service.name, s.service.externalId ?? "", `${s.calcomEventTypeId} ${s.title}`, s.score.toFixed(3)]);
            if (accepted.suggestions.length) parts.push(t.toString());
          }
          if (legacy) {
            parts.push(paint(out, "bold", `${would}mark ${legacy.count} service(s) LEGACY${legacy.count ? ":" : ""}`));
            if (legacy.count) parts.push(legacy.services.map((s) => `  ${s.name}${s.externalId ? ` (${s.externalId})` : ""}`).join("\n"));
          }
          const head = ["service", "externalId", "min", "status"];
          if (opts.suggest) head.push("best Cal.com event types (score)");
          const t = table(out, head);
          for (const s of orphans) {
            const row: (string | number)[] = [s.name, s.externalId ?? "", s.durationMinutes ?? "", s.syncStatus];
            if (opts.suggest) {
              const mine = suggestions.filter((x) => x.service.id === s.id);
              row.push(
                mine.length === 0
                  ? paint(out, "dim", "none above the floor")
                  : mine.map((x) => `${x.ambiguous ? "*" : ""}${x.calcomEventTypeId} ${x.title} (${x.lengthInMinutes} min) ${x.score.toFixed(3)}`).join("\n"),
              );
            }
            t.push(row);
          }
          parts.push(paint(out, "bold", `${orphans.length} orphan(s) in ${company.slug}; coverage ${coverage.coveragePercent.toFixed(2)} % (${coverage.syncedServices}/${coverage.activeServices})`));
          if (orphans.length) parts.push(t.toString());
          if (opts.suggest && suggestions.some((x) => x.ambiguous)) parts.push(paint(out, "dim", "* ambiguous: not taken by --accept-above; link by hand with `calsync services link`"));
          return parts.join("\n");
        });
      }),
    );
}
