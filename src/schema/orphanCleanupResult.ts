/** OrphanCleanupResult and `markOrphanedServicesLegacy` (src/orphans/legacy.ts). */
import { builder } from "./builder.ts";
import { markOrphanedServicesLegacy, type OrphanCleanupResult } from "../orphans/legacy.ts";
import { Company } from "./company.ts";
import { NotFoundError } from "./errors.ts";
import { isUuid } from "./ids.ts";
import { Service } from "./service.ts";

const OrphanCleanupResultRef = builder.objectRef<OrphanCleanupResult>("OrphanCleanupResult").implement({
  fields: (t) => ({
    dryRun: t.exposeBoolean("dryRun"),
    services: t.field({ type: [Service], resolve: (r) => r.services, description: "What was (or, with dryRun, would be) marked LEGACY." }),
    count: t.exposeInt("count"),
  }),
});

builder.mutationField("markOrphanedServicesLegacy", (t) =>
  t.field({
    type: OrphanCleanupResultRef,
    description:
      "Marks every orphan (active, no Cal.com id) LEGACY, so it leaves the coverage's active count. dryRun (default) only lists them; " +
      "dryRun: false marks them in one transaction, one audit row each. Undo per service: reactivateService.",
    args: { companyId: t.arg.globalID({ required: true, for: Company }), dryRun: t.arg.boolean({ defaultValue: true }) },
    resolve: (_parent, args, ctx) => {
      if (!isUuid(args.companyId.id)) throw new NotFoundError("Company");
      return markOrphanedServicesLegacy(args.companyId.id, args.dryRun ?? true, ctx.principal);
    },
  }),
);
