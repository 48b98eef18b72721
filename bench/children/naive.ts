/**
 * Child: the ingest floors, a bare `node:http` receiver with none of calsync's layers.
 *
 *   naive    verify the HMAC, JSON.parse, then BEGIN; INSERT one row shaped like webhook_events;
 *            SELECT graphile_worker.add_job(…); COMMIT; answer 202 (what a plain design costs)
 *   storage  the same with the INSERT alone, autocommitted (what the table itself costs)
 *
 * Same pg pool size as calsync. The secret is held in memory (calsync caches it too).
 *
 * BENCH_NOOP_CONCURRENCY=n (the end-to-end floor): the jobs are `bench_noop` jobs and this process
 * also runs graphile-worker with a no-op task at that concurrency, as `calsync serve` runs its
 * worker beside its HTTP server.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Logger, run } from "graphile-worker";
import pg from "pg";
import { serveParent } from "../lib/child.ts";
import { POOL_SIZE } from "../lib/pool-size.ts";

const mode = process.argv[2] === "storage" ? "storage" : "naive";
const secret = process.env["BENCH_SECRET"]!;
const companyId = process.env["BENCH_COMPANY_ID"]!;
const table = process.env["BENCH_TABLE"] ?? "bench_webhook_events";
const pool = new pg.Pool({ connectionString: process.env["DATABASE_URL"], max: POOL_SIZE });
pool.on("error", () => {});
// A client-level handler too: graphile-worker (the e2e floor's no-op worker shares this pool) warns
// "Your pool doesn't have all of the error handlers" into the bench output otherwise.
pool.on("connect", (client) => client.on("error", () => {}));

const INSERT = `INSERT INTO ${table} (id, company_id, trigger_event, correlation_id, body_sha256, payload, content_type, event_created_at)
  VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6::jsonb, $7, $8::timestamptz) ON CONFLICT DO NOTHING`;
const noopConcurrency = Number(process.env["BENCH_NOOP_CONCURRENCY"] ?? 0);
const JOB_TASK = noopConcurrency > 0 ? "bench_noop" : "process_webhook_event";
const ADD_JOB = `SELECT (graphile_worker.add_job(identifier => '${JOB_TASK}', payload => json_build_object('eventId', $1::text),
  max_attempts => 8)).id::text AS id`;

function verified(raw: Buffer, header: unknown): boolean {
  if (typeof header !== "string" || !/^[0-9a-f]{64}$/.test(header)) return false;
  return timingSafeEqual(createHmac("sha256", secret).update(raw).digest(), Buffer.from(header, "hex"));
}

async function store(raw: Buffer, contentType: string | undefined): Promise<string> {
  const body = JSON.parse(raw.toString("utf8")) as { triggerEvent?: string; createdAt?: string };
  const id = randomUUID();
  const params = [
    id, companyId, String(body.triggerEvent ?? "UNKNOWN"), randomUUID(), createHash("sha256").update(raw).digest("hex"),
    raw.toString("utf8"), contentType ?? null, body.createdAt ?? null,
  ];
  if (mode === "storage") {
    await pool.query(INSERT, params);
    return id;
  }
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(INSERT, params);
    await client.query(ADD_JOB, [id]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
  return id;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const raw = Buffer.concat(chunks);
    if (!verified(raw, req.headers["x-cal-signature-256"])) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"invalid_signature"}');
      return;
    }
    store(raw, req.headers["content-type"]).then(
      (id) => res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ id, duplicate: false })),
      () => res.writeHead(503, { "content-type": "application/json" }).end('{"error":"unavailable"}'),
    );
  });
});
server.keepAliveTimeout = 30_000;
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const runner =
  noopConcurrency > 0
    ? await run({
        pgPool: pool,
        concurrency: noopConcurrency,
        noHandleSignals: true,
        pollInterval: 2_000,
        parsedCronItems: [],
        logger: new Logger(() => () => {}),
        taskList: { bench_noop: async () => {} },
      })
    : null;

serveParent({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, {}, async () => {
  await runner?.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await pool.end();
});
