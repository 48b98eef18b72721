/**
 * LinkSuggestion: an orphaned service and one of its best unlinked Cal.com event types
 * (src/orphans/suggestions.ts), with `Company.linkSuggestions` and `acceptLinkSuggestions`.
 */
import { builder } from "./builder.ts";
import { acceptLinkSuggestions } from "../orphans/link.ts";
import { linkSuggestions, type LinkSuggestion } from "../orphans/suggestions.ts";
import { Company } from "./company.ts";
import { NotFoundError } from "./errors.ts";
import { isUuid } from "./ids.ts";
import { Service } from "./service.ts";

export const LinkSuggestionRef = builder.objectRef<LinkSuggestion>("LinkSuggestion").implement({
  description: "An orphaned service and one of its candidate Cal.com event types (not linked to any service yet).",
  fields: (t) => ({
    service: t.field({ type: Service, resolve: (s) => s.service }),
    calcomEventTypeId: t.exposeInt("calcomEventTypeId"),
    title: t.exposeString("title"),
    slug: t.exposeString("slug", { nullable: true }),
    lengthInMinutes: t.exposeInt("lengthInMinutes", { nullable: true }),
    score: t.exposeFloat("score", { description: "0 to 1: normalised title and slug similarity, and duration agreement." }),
    rank: t.exposeInt("rank", { description: "1 for the service's best candidate, then 2, 3." }),
    ambiguous: t.exposeBoolean("ambiguous", {
      description:
        "A best match that is not safe to take on its own: its runner-up scores almost as high, or another service has the same event type as its best match with a score at least as high. acceptLinkSuggestions skips it.",
    }),
  }),
});

builder.prismaObjectField(Company, "linkSuggestions", (t) =>
  t.field({
    type: [LinkSuggestionRef],
    description: "Orphaned services with their best unlinked event types (up to 3 each, above a floor), services by name.",
    resolve: (company) => linkSuggestions(company.id),
  }),
);

builder.mutationField("acceptLinkSuggestions", (t) =>
  t.field({
    type: [LinkSuggestionRef],
    description:
      "Links every orphan to its best suggestion scoring at least minScore, unless ambiguous. dryRun (default) only shows them; " +
      "dryRun: false links all of them in one transaction (or none). Each link is audited; undo with unlinkService.",
    args: {
      companyId: t.arg.globalID({ required: true, for: Company }),
      minScore: t.arg.float({ required: true }),
      dryRun: t.arg.boolean({ defaultValue: true }),
    },
    resolve: async (_parent, args, ctx) => {
      if (!isUuid(args.companyId.id)) throw new NotFoundError("Company");
      const result = await acceptLinkSuggestions(args.companyId.id, args.minScore, args.dryRun ?? true, ctx.principal);
      return result.suggestions;
    },
  }),
);
