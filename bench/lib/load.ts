/**
 * An in-process HTTP load generator on node:http with a keep-alive Agent (one socket per
 * concurrent request). Requests are built before the clock starts, so the generator only writes
 * bytes and reads answers.
 */
import { Agent, request } from "node:http";

export interface Shot {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Answer {
  status: number;
  /** Start of the request to the end of its answer, ms. */
  latencyMs: number;
  body: string;
}

export interface LoadResult {
  sent: number;
  /** Answers per status (0: network error). */
  statuses: Record<number, number>;
  /** Latencies of the answers with the expected status. */
  latenciesMs: number[];
  /** First send to last answer, ms. */
  elapsedMs: number;
  /** Bodies of the expected answers (when asked to keep them). */
  bodies: string[];
}

export class LoadClient {
  readonly #agent: Agent;
  readonly #host: string;
  readonly #port: number;

  constructor(origin: string, sockets: number) {
    const u = new URL(origin);
    this.#host = u.hostname;
    this.#port = Number(u.port);
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  send(shot: Shot): Promise<Answer> {
    const started = performance.now();
    return new Promise((resolve) => {
      const req = request(
        {
          host: this.#host,
          port: this.#port,
          method: "POST",
          path: shot.path,
          agent: this.#agent,
          headers: { ...shot.headers, "content-length": String(shot.body.length) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, latencyMs: performance.now() - started, body: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", () => resolve({ status: 0, latencyMs: performance.now() - started, body: "" }));
        },
      );
      req.on("error", () => resolve({ status: 0, latencyMs: performance.now() - started, body: "" }));
      req.end(shot.body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

function collect(expect: number, keepBodies: boolean) {
  const result: LoadResult = { sent: 0, statuses: {}, latenciesMs: [], elapsedMs: 0, bodies: [] };
  const record = (a: Answer) => {
    result.statuses[a.status] = (result.statuses[a.status] ?? 0) + 1;
    if (a.status === expect) {
      result.latenciesMs.push(a.latencyMs);
      if (keepBodies) result.bodies.push(a.body);
    }
  };
  return { result, record };
}

export interface ClosedLoopOptions {
  origin: string;
  concurrency: number;
  shots: readonly Shot[];
  /** The status that counts as success (Default: 200). */
  expect?: number;
  keepBodies?: boolean;
}

/** `concurrency` clients, each sending its next request as soon as the last one is answered. */
export async function closedLoop(o: ClosedLoopOptions): Promise<LoadResult> {
  const client = new LoadClient(o.origin, o.concurrency);
  const { result, record } = collect(o.expect ?? 200, o.keepBodies ?? false);
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < o.shots.length) {
      const shot = o.shots[next++]!;
      result.sent++;
      record(await client.send(shot));
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.shots.length) }, lane));
  result.elapsedMs = performance.now() - started;
  client.close();
  return result;
}

export interface OpenLoopOptions {
  origin: string;
  /** Requests per second, sent evenly whatever the answers do. */
  rate: number;
  shots: readonly Shot[];
  expect?: number;
  keepBodies?: boolean;
  /** Sockets to open at most (Default: 256). */
  sockets?: number;
}

/** Sends at a steady rate (not waiting for answers), for latency under a given load. */
export async function openLoop(o: OpenLoopOptions): Promise<LoadResult> {
  const client = new LoadClient(o.origin, o.sockets ?? 256);
  const { result, record } = collect(o.expect ?? 200, o.keepBodies ?? false);
  const pending: Promise<void>[] = [];
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(o.shots.length, Math.floor(((performance.now() - started) / 1000) * o.rate) + 1);
      while (result.sent < due) {
        const shot = o.shots[result.sent++]!;
        pending.push(client.send(shot).then(record));
      }
      if (result.sent >= o.shots.length) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(pending);
  result.elapsedMs = performance.now() - started;
  client.close();
  return result;
}

/** Calls `fn(i)` for i = 0..n-1 at a steady rate (not waiting for earlier calls); resolves when all have. */
export async function atRate(rate: number, n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const pending: Promise<unknown>[] = [];
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(n, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      while (sent < due) pending.push(fn(sent++));
      if (sent >= n) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await Promise.all(pending);
  return performance.now() - started;
}
