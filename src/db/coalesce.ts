/**
 * Coalesced reads: concurrent callers of the same read share one query, and every caller gets the
 * result of a query that STARTED AFTER IT ARRIVED.
 *
 * That second clause is the difference from a plain single-flight (which hands a late caller the
 * result of a query already running, possibly from before a write that caller has just made and
 * expects to see). Here, per key:
 * - nothing running: the caller's query starts at once (an idle process adds no latency);
 * - a query running: the caller joins the NEXT query, which starts as soon as the running one
 *   settles and serves every caller that arrived meanwhile;
 * - a next query already waiting: the caller joins it.
 * So at most one query per key runs at a time, at most one waits, and a write committed before a
 * call is always visible to it (read-your-writes holds, as without coalescing).
 *
 * Meant for expensive aggregates that many clients poll (coverageReport scans every service of
 * every company: with 16 dashboards asking at once, PostgreSQL did the same aggregate 16 times).
 * A failed query fails the callers that shared it, as it would have failed each of their own.
 * Per process only: processes scale out side by side and each coalesces its own callers.
 */
interface Slot<V> {
  running: Promise<V> | null;
  next: Promise<V> | null;
}

export class CoalescedReads<V> {
  readonly #slots = new Map<string, Slot<V>>();

  read(key: string, query: () => Promise<V>): Promise<V> {
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { running: null, next: null };
      this.#slots.set(key, slot);
    }
    if (slot.next) return slot.next;
    if (!slot.running) return this.#start(key, slot, query);
    const s = slot;
    const settled = slot.running.then(
      () => undefined,
      () => undefined,
    );
    s.next = settled.then(() => {
      s.next = null;
      return this.#start(key, s, query);
    });
    return s.next;
  }

  #start(key: string, slot: Slot<V>, query: () => Promise<V>): Promise<V> {
    const p = query();
    slot.running = p;
    const clear = () => {
      if (slot.running === p) slot.running = null;
      if (!slot.running && !slot.next) this.#slots.delete(key);
    };
    p.then(clear, clear);
    return p;
  }
}
