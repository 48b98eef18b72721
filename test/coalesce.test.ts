/**
 * The coalescing rule coverageReport relies on (src/db/coalesce.ts), with queries the test
 * controls: a caller never gets the result of a query that started before it arrived.
 */
import { describe, expect, it } from "vitest";
import { CoalescedReads } from "../src/db/coalesce.ts";

/** A query whose answer the test releases by hand; `started` counts the runs. */
function controlled() {
  const runs: { resolve: (v: number) => void; reject: (e: Error) => void }[] = [];
  const query = () => new Promise<number>((resolve, reject) => void runs.push({ resolve, reject }));
  return { runs, query };
}

describe("CoalescedReads", () => {
  it("starts at once when idle, and callers arriving during a run share the next run, not the running one", async () => {
    const reads = new CoalescedReads<number>();
    const { runs, query } = controlled();
    const first = reads.read("k", query);
    expect(runs).toHaveLength(1);
    const late = [reads.read("k", query), reads.read("k", query), reads.read("k", query)];
    expect(runs).toHaveLength(1); // no second query while one runs
    runs[0]!.resolve(1); // the snapshot from before the late callers arrived
    expect(await first).toBe(1);
    await settleUntil(() => runs.length === 2);
    runs[1]!.resolve(2);
    expect(await Promise.all(late)).toEqual([2, 2, 2]);
    // Idle again: the next caller starts a fresh run.
    const again = reads.read("k", query);
    expect(runs).toHaveLength(3);
    runs[2]!.resolve(3);
    expect(await again).toBe(3);
  });

  it("keeps keys apart and fails only the callers that shared a failed run", async () => {
    const reads = new CoalescedReads<number>();
    const { runs, query } = controlled();
    const a = reads.read("a", query);
    const b = reads.read("b", query);
    expect(runs).toHaveLength(2);
    const aLate = reads.read("a", query);
    runs[0]!.reject(new Error("database down"));
    runs[1]!.resolve(20);
    await expect(a).rejects.toThrow("database down");
    expect(await b).toBe(20);
    await settleUntil(() => runs.length === 3);
    runs[2]!.resolve(11);
    expect(await aLate).toBe(11);
  });
});

/** Lets queued microtasks run until `ready` holds (the next run starts once the last settles). */
async function settleUntil(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ready(); i++) await Promise.resolve();
  expect(ready()).toBe(true);
}
