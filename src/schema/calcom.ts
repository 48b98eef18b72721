/**
 * The Cal.com connection of a company. Write-only: no field returns the key or a secret.
 */
import { builder } from "./builder.ts";
import { db } from "../db/client.ts";
import { actorOf } from "../domain/audit.ts";
import { connectCalcom } from "../domain/calcom-connection.ts";
import { Company } from "./company.ts";
import { NotFoundError } from "./errors.ts";
import { isUuid } from "./ids.ts";

const ConnectCalcomInput = builder.inputType("ConnectCalcomInput", {
  fields: (t) => ({
    companyId: t.globalID({ required: true, for: Company }),
    apiKey: t.string({ required: true, description: "A Cal.com API key (cal_live_… or cal_…); stored encrypted, never returned." }),
    webhookSecret: t.string({ required: true, description: "The secret Cal.com signs this company's webhooks with; stored encrypted." }),
    teamId: t.int({ description: "Sync this Cal.com team's event types instead of the key owner's." }),
  }),
});

builder.mutationField("connectCalcom", (t) =>
  t.prismaField({
    type: "Company",
    description:
      "Checks the API key with Cal.com (errors CALCOM_INVALID_CREDENTIALS, CALCOM_UNAVAILABLE), then stores it and the webhook secret encrypted.",
    args: { input: t.arg({ type: ConnectCalcomInput, required: true }) },
    authScopes: (_parent, args) => ({ company: args.input.companyId.id }),
    resolve: async (query, _parent, { input }, ctx) => {
      const companyId = input.companyId.id;
      if (!isUuid(companyId)) throw new NotFoundError("Company");
      await connectCalcom(
        { companyId, apiKey: input.apiKey, webhookSecret: input.webhookSecret, teamId: input.teamId },
        actorOf(ctx.principal),
      );
      return db().company.findUniqueOrThrow({ ...query, where: { id: companyId } });
    },
  }),
);
