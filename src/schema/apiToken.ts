import { builder } from "./builder.ts";
import { db } from "../db/client.ts";
import { createApiToken } from "../domain/companies.ts";
import { actorOf } from "../domain/audit.ts";
import { Company } from "./company.ts";
import { NotFoundError } from "./errors.ts";
import { isUuid } from "./ids.ts";

interface ApiTokenPayloadShape {
  token: string;
  tokenId: string;
  prefix: string;
  companyId: string;
  createdAt: Date;
}

const ApiTokenPayload = builder.objectRef<ApiTokenPayloadShape>("ApiTokenPayload").implement({
  fields: (t) => ({
    token: t.exposeString("token", { description: "The plaintext bearer token. Shown once; only its hash is stored." }),
    tokenId: t.exposeID("tokenId"),
    prefix: t.exposeString("prefix", { description: "The token's first characters, to recognise it later." }),
    company: t.prismaField({
      type: "Company",
      resolve: (query, p) => db().company.findUniqueOrThrow({ ...query, where: { id: p.companyId } }),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.mutationField("createApiToken", (t) =>
  t.field({
    type: ApiTokenPayload,
    args: { companyId: t.arg.globalID({ required: true, for: Company }) },
    authScopes: (_parent, args) => ({ company: args.companyId.id }),
    resolve: async (_parent, args, ctx) => {
      if (!isUuid(args.companyId.id)) throw new NotFoundError("Company");
      const { token, tokenRecord } = await createApiToken(args.companyId.id, actorOf(ctx.principal));
      return {
        token,
        tokenId: tokenRecord.id,
        prefix: tokenRecord.prefix,
        companyId: tokenRecord.companyId,
        createdAt: tokenRecord.createdAt,
      };
    },
  }),
);
