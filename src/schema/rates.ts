/**
 * `Company.rates` and `CoverageReport.rates`: sync success rate and webhook error rate over the
 * last 24 hours and 7 days (definitions in src/domain/rates.ts). A page of companies shares one
 * query per request.
 */
import DataLoader from "dataloader";
import { createContextCache } from "@pothos/core";
import { builder } from "./builder.ts";
import { ratesByCompany, ratesTotal, type Rates, type WindowRates } from "../domain/rates.ts";
import { CoverageReportRef } from "./coverage.ts";

const WindowRatesRef = builder.objectRef<WindowRates>("WindowRates").implement({
  description: "Sync and webhook outcomes over one window ending now.",
  fields: (t) => ({
    syncSuccessRate: t.exposeFloat("syncSuccessRate", {
      nullable: true,
      description: "Sync runs SUCCEEDED / runs finished (SUCCEEDED or FAILED) in the window, 0-1; null when none finished.",
    }),
    syncRunsFinished: t.exposeInt("syncRunsFinished", { description: "Sync runs that finished (SUCCEEDED or FAILED) in the window." }),
    syncRunsFailed: t.exposeInt("syncRunsFailed"),
    webhookErrorRate: t.exposeFloat("webhookErrorRate", {
      nullable: true,
      description:
        "Webhook deliveries stored FAILED or INVALID / every stored delivery received in the window, 0-1; null when none arrived. " +
        "Rejected signatures (401) are not stored and do not count; UNMATCHED is not an error here.",
    }),
    webhooksReceived: t.exposeInt("webhooksReceived", { description: "Deliveries stored in the window (a re-delivery counts once)." }),
    webhooksFailed: t.exposeInt("webhooksFailed", { description: "Of those, FAILED or INVALID." }),
  }),
});

const RatesRef = builder.objectRef<Rates>("Rates").implement({
  description: "Operational rates, computed in SQL from the sync run ledger and the webhook inbox.",
  fields: (t) => ({
    last24h: t.field({ type: WindowRatesRef, resolve: (r) => r.last24h }),
    last7d: t.field({ type: WindowRatesRef, resolve: (r) => r.last7d }),
  }),
});

const ratesLoader = createContextCache(
  () => new DataLoader<string, Rates>(async (ids) => {
    const byId = await ratesByCompany(ids);
    return ids.map((id) => byId.get(id)!);
  }),
);

builder.prismaObjectField("Company", "rates", (t) =>
  t.field({
    type: RatesRef,
    description: "Sync success rate and webhook error rate of this company over the last 24 h and 7 d.",
    resolve: (company, _args, ctx) => ratesLoader(ctx).load(company.id),
  }),
);

builder.objectField(CoverageReportRef, "rates", (t) =>
  t.field({
    type: RatesRef,
    description: "The same rates over every company visible to the caller (for the admin: the whole deployment, unmatched deliveries included).",
    resolve: (_report, _args, ctx) => ratesTotal(ctx.principal.kind === "admin" ? null : [ctx.principal.companyId]),
  }),
);
