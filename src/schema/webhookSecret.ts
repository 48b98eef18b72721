/**
 * Webhook signing secrets. Write-only: no field ever returns a secret.
 */
import { builder } from "./builder.ts";
import { db } from "../db/client.ts";
import { actorOf } from "../domain/audit.ts";
import { addWebhookSecret } from "../domain/webhook-secrets.ts";
import { Company } from "./company.ts";
import { NotFoundError, UserInputError } from "./errors.ts";
import { isUuid } from "./ids.ts";

/** Shortest secret accepted through the API. */
const MIN_SECRET_LENGTH = 16;

builder.mutationField("addWebhookSecret", (t) =>
  t.prismaField({
    type: "Company",
    description:
      "Adds a webhook signing secret. With expiresOldAfterSeconds, the company's current secrets stop verifying that many seconds from now (0 = at once); without it they stay valid (rotation).",
    args: {
      companyId: t.arg.globalID({ required: true, for: Company }),
      secret: t.arg.string({ required: true }),
      expiresOldAfterSeconds: t.arg.int(),
    },
    authScopes: (_parent, args) => ({ company: args.companyId.id }),
    resolve: async (query, _parent, args, ctx) => {
      const companyId = args.companyId.id;
      if (!isUuid(companyId)) throw new NotFoundError("Company");
      if (args.secret.length < MIN_SECRET_LENGTH) {
        throw new UserInputError(`secret must be at least ${MIN_SECRET_LENGTH} characters.`, "secret");
      }
      if (args.expiresOldAfterSeconds !== null && args.expiresOldAfterSeconds !== undefined && args.expiresOldAfterSeconds < 0) {
        throw new UserInputError("expiresOldAfterSeconds must be 0 or more.", "expiresOldAfterSeconds");
      }
      await addWebhookSecret(companyId, args.secret, args.expiresOldAfterSeconds, actorOf(ctx.principal));
      return db().company.findUniqueOrThrow({ ...query, where: { id: companyId } });
    },
  }),
);
