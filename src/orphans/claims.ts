/**
 * Which unlinked Cal.com event types the company's orphans may be waiting for: the full sync holds
 * these back instead of importing them as new services.
 *
 * Why: a full sync imports every event type no service links as a new SYNCED service. For a
 * catalogue that came from elsewhere (the old system's 25 orphans), that is the wrong move for an
 * event type an orphan is the same offer as: the sync would create a duplicate of the orphan and
 * take away the event type its link suggestion points at, and coverage would count the duplicate
 * while the orphan stays unsynced. So while an orphan may be the same offer, the event type waits
 * for a person (link it, export the orphan, or mark the orphan legacy); once no orphan claims it,
 * the next sync imports it as before.
 *
 * Invariants:
 * - an event type is claimed when any orphan of the company (active, not LEGACY, no Cal.com id)
 *   scores at least SUGGESTION_FLOOR against it: exactly the pairs `linkSuggestions` can show
 *   (it shows each orphan's best three of them), so every suggestion stays available;
 * - only unlinked event types can be claimed: a linked one is its service's and syncs as always;
 * - scoring is bounded: above MAX_SCORED_PAIRS orphan × event type pairs (about 25 µs each) the
 *   comparison is not made and every unlinked event type is held, so a sync never creates a
 *   duplicate it did not rule out, and never spends seconds deciding. Linking, exporting or
 *   retiring orphans brings the count down.
 */
import type pg from "pg";
import { prepareEventType, prepareService, preparedSimilarity, type EventTypeSide } from "./similarity.ts";
import { SUGGESTION_FLOOR } from "./suggestions.ts";

type Queryable = Pick<pg.PoolClient, "query">;

/** Orphan × event type pairs scored at most per sync (about 2.5 s of CPU at the most). */
export const MAX_SCORED_PAIRS = 100_000;

export interface Claim {
  /** The orphan that wants the event type most (by score, then name). */
  serviceId: string;
  /** Its score; 0 when the pairs were too many to score (see MAX_SCORED_PAIRS). */
  score: number;
}

interface OrphanRow {
  id: string;
  name: string;
  slug: string | null;
  durationMinutes: number | null;
}

/** Claims on `unlinked` by the company's orphans, read on `q` (the sync's own transaction). */
export async function orphanClaims(
  q: Queryable,
  companyId: string,
  unlinked: readonly (EventTypeSide & { id: number })[],
): Promise<Map<number, Claim>> {
  const claims = new Map<number, Claim>();
  if (unlinked.length === 0) return claims;
  const { rows: orphans } = await q.query<OrphanRow>({
    text: `SELECT id::text AS id, name, slug, duration_minutes AS "durationMinutes"
             FROM services
            WHERE company_id = $1::uuid AND is_active AND calcom_event_type_id IS NULL AND sync_status <> 'LEGACY'
            ORDER BY name, id`,
    values: [companyId],
  });
  if (orphans.length === 0) return claims;
  if (orphans.length * unlinked.length > MAX_SCORED_PAIRS) {
    const first = orphans[0]!;
    for (const et of unlinked) claims.set(et.id, { serviceId: first.id, score: 0 });
    return claims;
  }
  const sides = orphans.map((o) => ({ orphan: o, side: prepareService(o) }));
  for (const et of unlinked) {
    const prepared = prepareEventType(et);
    for (const { orphan, side } of sides) {
      const score = preparedSimilarity(side, prepared);
      // Orphans come by name: on a tie the first by name keeps the claim.
      if (score >= SUGGESTION_FLOOR && score > (claims.get(et.id)?.score ?? -1)) {
        claims.set(et.id, { serviceId: orphan.id, score });
      }
    }
  }
  return claims;
}
