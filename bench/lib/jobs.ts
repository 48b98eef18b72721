/** Counting graphile-worker jobs as a runner finishes them (child side). */
import type { WorkerEvents } from "graphile-worker";

export interface DrainResult {
  completed: number;
  errors: number;
  /** First job taken to the n-th job completed (written back), ms. */
  elapsedMs: number;
}

export class JobTracker {
  #firstStart: number | null = null;
  #completed = 0;
  #errors = 0;
  #waiters: { n: number; resolve: (r: DrainResult) => void }[] = [];

  constructor(events: WorkerEvents) {
    events.on("job:start", () => {
      this.#firstStart ??= performance.now();
    });
    events.on("job:error", () => void this.#errors++);
    events.on("job:complete", () => {
      this.#completed++;
      const now = performance.now();
      this.#waiters = this.#waiters.filter((w) => {
        if (this.#completed < w.n) return true;
        w.resolve({ completed: this.#completed, errors: this.#errors, elapsedMs: now - (this.#firstStart ?? now) });
        return false;
      });
    });
  }

  /** Resolves when `n` jobs have completed since this tracker started. */
  waitFor(n: number): Promise<DrainResult> {
    return new Promise((resolve) => {
      if (this.#completed >= n) {
        resolve({ completed: this.#completed, errors: this.#errors, elapsedMs: 0 });
        return;
      }
      this.#waiters.push({ n, resolve });
    });
  }
}
