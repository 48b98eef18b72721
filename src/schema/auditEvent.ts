import { builder } from "./builder.ts";
import { canSeeCompany } from "../auth/principal.ts";
import { Company } from "./company.ts";

export const AuditEvent = builder.prismaNode("AuditEvent", {
  id: { field: "id" },
  authScopes: (event, ctx) => canSeeCompany(ctx.principal, event.companyId),
  fields: (t) => ({
    actor: t.exposeString("actor", { description: '"admin", "token:<id>", "cli" or "system".' }),
    action: t.exposeString("action"),
    details: t.expose("details", { type: "JSON", nullable: true }),
    correlationId: t.exposeString("correlationId", { nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
  }),
});

builder.prismaObjectField(Company, "auditEvents", (t) =>
  t.relatedConnection("auditEvents", {
    cursor: "id",
    totalCount: true,
    query: () => ({ orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
  }, { name: "AuditEventConnection" }, { name: "AuditEventEdge" }),
);
