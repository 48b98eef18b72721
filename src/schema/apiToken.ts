/**
 * Company API tokens. Only the admin token creates or revokes them (a leaked company token must
 * not be able to mint its own successors); a company may list its own, never with the secret:
 * only the SHA-256 is stored, and no field exposes even that.
 */
import { encodeGlobalID } from "@pothos/plugin-relay";
import { builder } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import { db } from "../db/client.ts";
import { createApiToken } from "../domain/companies.ts";
import { revokeApiToken } from "../domain/api-tokens.ts";
import { actorOf } from "../domain/audit.ts";
import { Company } from "./company.ts";
import { NotFoundError } from "./errors.ts";
import { isUuid } from "./ids.ts";

export const ApiToken = builder.prismaNode("ApiToken", {
  id: { field: "id" },
  authScopes: (token, ctx) => canSeeCompany(ctx.principal, token.companyId),
  // Never select the hash, even though no field exposes it.
  select: { companyId: true },
  fields: (t) => ({
    company: t.relation("company"),
    prefix: t.exposeString("prefix", { description: "The token's first characters, to recognise it." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    lastUsedAt: t.expose("lastUsedAt", {
      type: "DateTime",
      nullable: true,
      description: "Last request authenticated with it (precise to a minute).",
    }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true }),
  }),
});

builder.prismaObjectField(Company, "apiTokens", (t) =>
  t.relatedConnection("apiTokens", {
    cursor: "id",
    totalCount: true,
    query: () => ({ orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
  }, { name: "ApiTokenConnection" }, { name: "ApiTokenEdge" }),
);

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
    tokenId: t.id({ description: "The ApiToken's global id (for revokeApiToken).", resolve: (p) => encodeGlobalID("ApiToken", p.tokenId) }),
    apiToken: t.prismaField({
      type: "ApiToken",
      resolve: (query, p) => db().apiToken.findUniqueOrThrow({ ...query, where: { id: p.tokenId } }),
    }),
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
    description: "Admin only. Creates a token for one company; the plaintext is in the answer once.",
    args: { companyId: t.arg.globalID({ required: true, for: Company }) },
    authScopes: { admin: true },
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

builder.mutationField("revokeApiToken", (t) =>
  t.prismaField({
    type: "ApiToken",
    description: "Admin only. The token stops working at once, in every process; revoking twice is harmless.",
    args: { id: t.arg.globalID({ required: true, for: ApiToken }) },
    authScopes: { admin: true },
    resolve: async (query, _parent, args, ctx) => {
      if (!isUuid(args.id.id)) throw new NotFoundError("ApiToken");
      await revokeApiToken(args.id.id, actorOf(ctx.principal));
      return db().apiToken.findUniqueOrThrow({ ...query, where: { id: args.id.id } });
    },
  }),
);
