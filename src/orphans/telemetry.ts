/**
 * Counters of the orphan workflow, by company (`company` = the company's slug, `company_id` = its
 * id, as on `calsync_coverage_percent`). Dry runs count nothing.
 */
import { meter } from "../metrics.ts";

export const serviceLinks = meter.createCounter("calsync_service_links", {
  description: "Services linked to a Cal.com event type, by company and source (manual, suggestion, import)",
});
export const serviceUnlinks = meter.createCounter("calsync_service_unlinks", {
  description: "Services unlinked from their Cal.com event type, by company",
});
export const serviceExports = meter.createCounter("calsync_service_exports", {
  description: "Services exported to Cal.com, by company and outcome (created, adopted, failed)",
});
export const legacyMarks = meter.createCounter("calsync_service_legacy_marks", {
  description: "Services marked LEGACY (and reactivated, action=reactivated), by company",
});

export function companyAttrs(company: { id: string; slug: string }): { company_id: string; company: string } {
  return { company_id: company.id, company: company.slug };
}
