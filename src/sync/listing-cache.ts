/**
 * A short-lived, per-process cache of each company's Cal.com event-type listing, for readers that
 * can live with a listing up to LISTING_TTL_MS old (pickers, link suggestions, connect checks).
 * The sync itself always lists afresh.
 *
 * Invalidation: a sync or a single-event-type refresh of the company drops its entry (call
 * `invalidateListing(companyId)` from anything else that learns the listing changed, e.g. a
 * webhook). That reaches this process only; other processes see the change when their entry
 * expires, which is why the TTL is short. Concurrent readers share one load (`fetch`), and an
 * invalidation aborts a load in flight so it cannot put back a listing older than the change.
 */
import { LRUCache } from "lru-cache";
import type { CalcomEventType } from "../calcom/event-types.ts";

/** How long a listing is reused (Default: 30 s). */
export const LISTING_TTL_MS = 30_000;

/** Most event types held over all companies; a bigger listing is simply not cached. */
const MAX_CACHED_EVENT_TYPES = 20_000;

type Loader = () => Promise<CalcomEventType[]>;

const cache = new LRUCache<string, CalcomEventType[], Loader>({
  maxSize: MAX_CACHED_EVENT_TYPES,
  sizeCalculation: (list) => Math.max(1, list.length),
  ttl: LISTING_TTL_MS,
  fetchMethod: (_companyId, _stale, { context }) => context(),
});

/** The company's listing from the cache, or loaded with `load` (concurrent callers share one load). */
export async function cachedListing(companyId: string, load: Loader): Promise<CalcomEventType[]> {
  const hit = await cache.fetch(companyId, { context: load });
  return hit ?? load();
}

/** Stores a listing just fetched elsewhere (e.g. while checking a team's key). */
export function rememberListing(companyId: string, listing: CalcomEventType[]): void {
  if (listing.length <= MAX_CACHED_EVENT_TYPES) cache.set(companyId, listing);
}

/** Forgets the company's listing (one company, or all). */
export function invalidateListing(companyId?: string): void {
  if (companyId === undefined) cache.clear();
  else cache.delete(companyId);
}
