/**
 * Link suggestions: for every orphan of a company (active, not LEGACY, no Cal.com id), its best
 * candidates among the company's Cal.com event types that no service links yet, scored by
 * `similarity.ts`.
 *
 * Invariants:
 * - a candidate scores at least SUGGESTION_FLOOR, else it is not shown; a service whose every
 *   candidate is below the floor gets no suggestion;
 * - each service shows at most MAX_PER_SERVICE candidates, best first (`rank` 1, 2, …);
 * - `ambiguous` marks a best match (rank 1) that cannot be taken on its own: either the service's
 *   second candidate is within TIE_MARGIN of its first (e.g. two event types with the same title),
 *   or another service has the same event type as its best match with a score at least as high
 *   (so of two services wanting one event type, the lower one is always marked, and both when
 *   they tie). `acceptLinkSuggestions` takes only best matches that are not ambiguous.
 * Ordering is stable: services by name then id, candidates by score then event type id.
 */
import type { Service } from "../generated/prisma/client.ts";
import type { CalcomEventType } from "../calcom/event-types.ts";
import { db } from "../db/client.ts";
import { companyListing } from "./listing.ts";
import { prepareEventType, prepareService, preparedSimilarity } from "./similarity.ts";

export const SUGGESTION_FLOOR = 0.6;
export const MAX_PER_SERVICE = 3;
export const TIE_MARGIN = 0.05;

export interface LinkSuggestion {
  service: Service;
  calcomEventTypeId: number;
  title: string;
  slug: string;
  lengthInMinutes: number;
  score: number;
  rank: number;
  ambiguous: boolean;
  /** The event type as listed (used when the suggestion is accepted). */
  eventType: CalcomEventType;
}

/** Active services without a Cal.com id that are not LEGACY, by name. */
export function orphanWhere(companyId: string) {
  return { companyId, isActive: true, calcomEventTypeId: null, syncStatus: { not: "LEGACY" as const } };
}

export async function orphansOf(companyId: string): Promise<Service[]> {
  return db().service.findMany({ where: orphanWhere(companyId), orderBy: [{ name: "asc" }, { id: "asc" }] });
}

/** Pure: suggestions for `orphans` among `listing`, given the event type ids already linked. */
export function rankSuggestions(orphans: readonly Service[], listing: readonly CalcomEventType[], linked: ReadonlySet<number>): LinkSuggestion[] {
  const candidates = listing.filter((et) => !linked.has(et.id)).map((et) => ({ et, prepared: prepareEventType(et) }));
  const perService: LinkSuggestion[][] = orphans.map((service) => {
    const side = prepareService(service);
    return candidates
      .map(({ et, prepared }) => ({ et, score: preparedSimilarity(side, prepared) }))
      .filter((c) => c.score >= SUGGESTION_FLOOR)
      .sort((a, b) => b.score - a.score || a.et.id - b.et.id)
      .slice(0, MAX_PER_SERVICE)
      .map((c, i) => ({
        service,
        calcomEventTypeId: c.et.id,
        title: c.et.title,
        slug: c.et.slug,
        lengthInMinutes: c.et.lengthInMinutes,
        score: c.score,
        rank: i + 1,
        ambiguous: false,
        eventType: c.et,
      }));
  });

  // Ties within one service.
  for (const list of perService) {
    const [first, second] = list;
    if (first && second && first.score - second.score < TIE_MARGIN) first.ambiguous = true;
  }
  // Two services wanting the same event type as their best match.
  const bestByEventType = new Map<number, LinkSuggestion[]>();
  for (const list of perService) {
    const best = list[0];
    if (best) bestByEventType.set(best.calcomEventTypeId, [...(bestByEventType.get(best.calcomEventTypeId) ?? []), best]);
  }
  for (const group of bestByEventType.values()) {
    if (group.length < 2) continue;
    const top = Math.max(...group.map((s) => s.score));
    const atTop = group.filter((s) => s.score === top);
    for (const s of group) if (s.score < top || atTop.length > 1) s.ambiguous = true;
  }
  return perService.flat();
}

/** The company's suggestions, reading its listing through the cache (see listing.ts). */
export async function linkSuggestions(companyId: string): Promise<LinkSuggestion[]> {
  const orphans = await orphansOf(companyId);
  if (orphans.length === 0) return [];
  const connection = await db().calcomConnection.findUnique({ where: { companyId }, select: { companyId: true } });
  if (!connection) return []; // nothing to link to: export or mark legacy instead
  const [listing, linkedRows] = await Promise.all([
    companyListing(companyId),
    db().service.findMany({ where: { companyId, calcomEventTypeId: { not: null } }, select: { calcomEventTypeId: true } }),
  ]);
  const linked = new Set(linkedRows.map((r) => r.calcomEventTypeId!));
  return rankSuggestions(orphans, listing, linked);
}

/** The best, unambiguous suggestion of each service scoring at least `minScore`. */
export function acceptable(suggestions: readonly LinkSuggestion[], minScore: number): LinkSuggestion[] {
  return suggestions.filter((s) => s.rank === 1 && !s.ambiguous && s.score >= minScore);
}
