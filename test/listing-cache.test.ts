import { afterEach, describe, expect, it, vi } from "vitest";
import type { CalcomEventType } from "../src/calcom/event-types.ts";
import { cachedListing, invalidateListing } from "../src/sync/listing-cache.ts";

const listing = (n: number) => [{ id: n, title: `Event ${n}`, slug: `event-${n}`, lengthInMinutes: 30 }] as unknown as CalcomEventType[];

afterEach(() => {
  invalidateListing();
});

describe("per-company event-type listing cache", () => {
  it("reuses a company's listing, and concurrent readers share one load", async () => {
    const load = vi.fn<() => Promise<CalcomEventType[]>>(async () => listing(1));
    const [a, b] = await Promise.all([cachedListing("c1", load), cachedListing("c1", load)]);
    expect(a).toEqual(listing(1));
    expect(b).toEqual(listing(1));
    expect(await cachedListing("c1", load)).toEqual(listing(1));
    expect(load).toHaveBeenCalledTimes(1);
    expect(await cachedListing("c2", async () => listing(2))).toEqual(listing(2));
  });

  it("loads again after a sync or webhook invalidates the company", async () => {
    await cachedListing("c1", async () => listing(1));
    invalidateListing("c1");
    expect(await cachedListing("c1", async () => listing(9))).toEqual(listing(9));
  });
});
