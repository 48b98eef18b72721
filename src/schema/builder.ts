/**
 * The Pothos builder: plugins, scalars, context and auth scopes. No domain types here; each
 * lives in its own file beside this one (see index.ts).
 *
 * Terminology:
 * - principal: who calls (admin token or one company's token), see auth/principal.ts.
 * - orphaned service: an active service without a Cal.com event type (`NEVER_SYNCED`).
 */
import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { DateTimeResolver, JSONResolver } from "graphql-scalars";
import { GraphQLError } from "graphql";
import type PrismaTypes from "../generated/pothos-prisma-types.ts";
import { getDatamodel } from "../generated/pothos-prisma-types.ts";
import { db } from "../db/client.ts";
import { env } from "../config.ts";
import { canSeeCompany, type Principal } from "../auth/principal.ts";

export interface Context {
  principal: Principal;
  /** The request's correlation id (x-request-id). */
  requestId: string;
  /** Caller address, for rate limiting. */
  ip: string;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { admin: boolean; company: string };
  // Fields are non-null unless marked nullable, as the contract's SDL reads.
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
}>({
  plugins: [RelayPlugin, ScopeAuthPlugin, ErrorsPlugin, PrismaPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => ({
      admin: ctx.principal.kind === "admin",
      company: (companyId: string) => canSeeCompany(ctx.principal, companyId),
    }),
    // Objects of another company resolve to null with a FORBIDDEN error, wherever they appear.
    // The check runs once per object (50 times for a 50-service page), so a company-owned type's
    // `authScopes` answers with a boolean, `canSeeCompany(ctx.principal, x.companyId)`: the
    // `company` scope's own rule, without scope-auth evaluating a scope map per object (the map,
    // its loader cache and promise bookkeeping: about a tenth of that page's CPU). Same outcome,
    // same FORBIDDEN error. Scope-auth runs these checks inside the type's isTypeOf, and needs
    // the request context there: graphql-jit 0.8 calls isTypeOf(value) without context or info
    // (and cannot turn a thrown check into a field error), so it cannot run this schema.
    runScopesOnType: true,
    unauthorizedError: () =>
      new GraphQLError("You are not allowed to see or change this object.", { extensions: { code: "FORBIDDEN" } }),
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
    edgesFieldOptions: { nullable: false },
    nodeFieldOptions: { nullable: false },
    // node and nodes are defined in node.ts (null for ids that name nothing, per-entry errors).
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
  errors: { defaultTypes: [] },
  prisma: {
    client: () => db(),
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: env().NODE_ENV === "production" ? null : "warn",
  },
});

// @specifiedBy lets client tooling (codegen, relay-compiler) map it without guessing: RFC 3339
// date-time strings in UTC, e.g. 2026-11-20T12:10:00.000Z.
builder.addScalarType("DateTime", DateTimeResolver, {
  specifiedByURL: "https://scalars.graphql.org/andimarek/date-time",
});
builder.addScalarType("JSON", JSONResolver);
builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
