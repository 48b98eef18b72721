/**
 * The chaos harness: real calsync processes (`calsync serve`, `serve --no-worker`, `worker`)
 * started with tsx on loopback, killed with real signals, and bursts of signed deliveries sent
 * to them. Every process a test starts is SIGKILLed in `afterEach` if it is still alive, so a
 * failing test leaves nothing running; traffic goes to 127.0.0.1 only and every loop is bounded.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import { afterEach } from "vitest";
import type pg from "pg";
import { signBody } from "../../src/calcom/signature.ts";
import { ADMIN_TOKEN, SECRETS_KEY } from "../support/app.ts";
import { bookingCreated, serialize } from "../fixtures/webhooks.ts";
import { scopedPath } from "../support/webhooks.ts";

/** Dead-worker bound in the chaos runs: small, so a recovery takes seconds, not half a minute. */
export const DEAD_AFTER_SECONDS = 3;

export interface CalsyncProcess {
  child: ChildProcessWithoutNullStreams;
  /** `http://127.0.0.1:port` for serve; "" for a worker. */
  url: string;
  /** Its graphile-worker id, when it runs a worker. */
  workerId: string | null;
  output: () => string;
  /** Log lines (JSON) printed so far. */
  lines: () => Record<string, unknown>[];
  exited: Promise<unknown>;
}

const children = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  children.clear();
});

/** The environment every calsync process of a chaos test gets (plus `extra`). */
export function calsyncEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: databaseUrl,
    ADMIN_TOKEN,
    SECRETS_KEY,
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    WORKER_DEAD_AFTER_SECONDS: String(DEAD_AFTER_SECONDS),
    // Nothing leaves the machine: an unreachable loopback port unless a test names its fake.
    CALCOM_API_URL: "http://127.0.0.1:9",
    OTEL_TRACES_EXPORTER: "none",
    OTEL_METRICS_EXPORTER: "none",
    ...extra,
  };
}

/**
 * Starts `calsync <args>`; resolves once it is ready: serve prints its URL, a worker logs
 * "worker started" with its id (serve with a worker logs both).
 */
export async function startCalsync(args: string[], env: NodeJS.ProcessEnv): Promise<CalsyncProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "--import", "./otel/register.ts", "src/cli.ts", ...args], { env });
  children.add(child);
  let out = "";
  let wake = () => {};
  const keep = (d: Buffer) => {
    wake();
    out += d.toString();
    // Bounded: a long run keeps the last 4 MB.
    if (out.length > 8_000_000) out = out.slice(-4_000_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = once(child, "exit");
  const serves = args[0] === "serve";
  const works = args[0] === "worker" || (serves && !args.includes("--no-worker"));
  const lines = () =>
    out.split("\n").flatMap((l) => {
      if (!l.startsWith("{")) return [];
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const deadline = Date.now() + 90_000;
  for (;;) {
    const url = /GraphiQL:\s+(http:\/\/\S+)\/graphql/.exec(out)?.[1] ?? "";
    const started = works ? lines().find((l) => l["msg"] === "worker started") : undefined;
    if ((!serves || url) && (!works || started)) {
      return { child, url, workerId: (started?.["workerId"] as string | undefined) ?? null, output: () => out, lines, exited };
    }
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`calsync ${args.join(" ")} exited early:\n${out.slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`calsync ${args.join(" ")} not ready after 90 s:\n${out.slice(-3000)}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 500);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** SIGKILL, and wait until the process is gone. */
export async function kill(p: CalsyncProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited;
}

export interface Delivery {
  uid: string;
  path: string;
  body: string;
  signature: string;
}

/** `n` distinct signed BOOKING_CREATED deliveries for the company (booking uids `<label>-<i>`). */
export function deliveries(companyId: string, secret: string, label: string, n: number, eventTypeId?: number): Delivery[] {
  return Array.from({ length: n }, (_, i) => {
    const uid = `${label}-${i}`;
    const body = serialize(bookingCreated({ uid, bookingId: 100_000 + i, ...(eventTypeId ? { eventTypeId } : {}) }));
    return { uid, path: scopedPath(companyId), body, signature: signBody(secret, body) };
  });
}

export interface Outcome {
  delivery: Delivery;
  /** HTTP status; 0 when the connection failed or was cut before an answer. */
  status: number;
  /** Why there was no answer (status 0). */
  error?: string;
  id?: string;
  duplicate?: boolean;
}

/** POSTs one delivery; never throws (a cut connection is status 0). */
export function post(origin: string, d: Delivery, agent?: Agent): Promise<Outcome> {
  const url = new URL(d.path, origin);
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent,
        timeout: 30_000,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(d.body), "x-cal-signature-256": d.signature },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", () => resolve({ delivery: d, status: 0 }));
        res.on("end", () => {
          let body: { id?: string; duplicate?: boolean } = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
          } catch {
            /* not JSON */
          }
          resolve({ delivery: d, status: res.statusCode ?? 0, ...(body.id ? { id: body.id, duplicate: body.duplicate ?? false } : {}) });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => resolve({ delivery: d, status: 0, error: `${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}` }));
    req.end(d.body);
  });
}

export interface BurstOptions {
  /** Origins to spread the deliveries over (round robin). */
  origins: string[] | (() => string[]);
  concurrency: number;
  /** Called after each answer with the number answered so far (fault injection points). */
  onProgress?: (done: number) => void | Promise<void>;
}

/** Sends every delivery once, `concurrency` at a time; resolves with every outcome, in order. */
export async function burst(list: Delivery[], o: BurstOptions): Promise<Outcome[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const outcomes: Outcome[] = Array.from({ length: list.length });
  let next = 0;
  let done = 0;
  const lane = async () => {
    for (let i = next++; i < list.length; i = next++) {
      const origins = typeof o.origins === "function" ? o.origins() : o.origins;
      outcomes[i] = await post(origins[i % origins.length]!, list[i]!, agent);
      done++;
      await o.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, lane));
  agent.destroy();
  return outcomes;
}

/** Polls `fn` (at most every `everyMs`) until it returns a truthy value; throws after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T>, timeoutMs = 60_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface EventCounts {
  total: number;
  processed: number;
  /** PROCESSED events applied more than once (attempts > 1 would mean a second apply). */
  multiApplied: number;
  bookings: number;
}

/** How far the company's events have come (one query on a client of the test's own). */
export async function eventCounts(client: pg.ClientBase, companyId: string, uidPrefix: string): Promise<EventCounts> {
  const { rows } = await client.query<EventCounts>(
    `SELECT (SELECT count(*)::int FROM webhook_events WHERE company_id = $1) AS total,
            (SELECT count(*)::int FROM webhook_events WHERE company_id = $1 AND status = 'PROCESSED') AS processed,
            (SELECT count(*)::int FROM webhook_events WHERE company_id = $1 AND status = 'PROCESSED' AND attempts <> 1) AS "multiApplied",
            (SELECT count(*)::int FROM bookings WHERE company_id = $1 AND uid LIKE $2) AS bookings`,
    [companyId, `${uidPrefix}%`],
  );
  return rows[0]!;
}

/** GET /metrics of a serve process, as name{labels} → value. */
export async function scrape(origin: string): Promise<Map<string, number>> {
  const res = await fetch(`${origin}/metrics`);
  const text = await res.text();
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    values.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return values;
}

/** A metric's value regardless of labels (summed). */
export function metric(values: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [k, v] of values) if (k === name || k.startsWith(`${name}{`)) sum += v;
  return sum;
}
