/**
 * The company's Cal.com event types as the orphan workflow reads them: through the per-company
 * listing cache (a few seconds old at most, shared by concurrent readers, dropped by syncs and
 * webhooks), loaded by the company's client, whose every request waits for the shared rate
 * budget of its API key. `fresh: true` drops the cached entry first (an export must see slugs
 * created a moment ago).
 */
import type { CalcomEventType } from "../calcom/event-types.ts";
import { clientForCompany, NotConnected } from "../calcom/for-company.ts";
import { cachedListing, invalidateListing } from "../sync/listing-cache.ts";
import { calcomFailure } from "./errors.ts";

export async function companyListing(companyId: string, options: { fresh?: boolean } = {}): Promise<CalcomEventType[]> {
  if (options.fresh) invalidateListing(companyId);
  try {
    return await cachedListing(companyId, async () => (await clientForCompany(companyId)).listEventTypes());
  } catch (err) {
    throw calcomFailure(err, companyId);
  }
}

export { NotConnected };
