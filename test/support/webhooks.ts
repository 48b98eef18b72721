/**
 * Helpers for webhook tests: signing and posting deliveries, running only the webhook job, and
 * capturing log lines.
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import { Logger, runOnce } from "graphile-worker";
import { signBody } from "../../src/calcom/signature.ts";
import { pool } from "../../src/db/client.ts";
import { configureLogger } from "../../src/log.ts";
import { taskList } from "../../src/tasks/index.ts";
import { settleJobs } from "./worker.ts";
import { asAdmin } from "./db.ts";
import { serialize, type Body } from "../fixtures/webhooks.ts";
import type { TestApp } from "./app.ts";

export const companyGid = (id: string) => encodeGlobalID("Company", id);
export const eventGid = (id: string) => encodeGlobalID("WebhookEvent", id);

/** The database id of the event a 202 names (its body's `id` is the event's GraphQL global id). */
export function eventIdOf(res: { body: { id?: unknown } }): string {
  const { typename, id } = decodeGlobalID(String(res.body.id));
  if (typename !== "WebhookEvent") throw new Error(`202 id names a ${typename}`);
  return id;
}

export const scopedPath = (companyId: string) => `/webhooks/calcom/${encodeURIComponent(companyGid(companyId))}`;

export interface PostOptions {
  /** The signature header value; default: the body signed with `secret`; null: no header. */
  signature?: string | null;
  secret?: string;
  /** Default application/json; null: no Content-Type header. */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** Send with Transfer-Encoding: chunked (no Content-Length), in pieces of this many bytes. */
  chunkSize?: number;
}

export interface Delivered {
  status: number;
  headers: IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
}

async function baseUrl(t: TestApp): Promise<{ host: string; port: number }> {
  if (!t.app.server.listening) await t.app.listen({ port: 0, host: "127.0.0.1" });
  return { host: "127.0.0.1", port: (t.app.server.address() as AddressInfo).port };
}

/**
 * POSTs a delivery with exactly these bytes (node:http, so nothing re-encodes the body or adds a
 * Content-Type); a Body object is sent as Cal.com's compact JSON.
 */
export async function deliver(t: TestApp, path: string, body: Body | string | Buffer, o: PostOptions = {}): Promise<Delivered> {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : serialize(body));
  const headers: Record<string, string> = { ...o.headers };
  const ct = o.contentType === undefined ? "application/json" : o.contentType;
  if (ct !== null) headers["content-type"] = ct;
  const sig = o.signature === undefined ? signBody(o.secret ?? "", raw) : o.signature;
  if (sig !== null) headers["x-cal-signature-256"] = sig;
  if (o.chunkSize) headers["transfer-encoding"] = "chunked";
  else headers["content-length"] = String(raw.length);
  const { host, port } = await baseUrl(t);
  return new Promise<Delivered>((resolve, reject) => {
    const req = httpRequest({ host, port, method: "POST", path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
      });
    });
    req.on("error", reject);
    if (o.chunkSize) {
      for (let i = 0; i < raw.length; i += o.chunkSize) req.write(raw.subarray(i, i + o.chunkSize));
      req.end();
    } else {
      req.end(raw);
    }
  });
}

const silentLogger = new Logger(() => () => {});

/** Runs every due `process_webhook_event` job (and no other task), then returns. */
export async function runWebhookJobs(): Promise<void> {
  const only = { process_webhook_event: taskList["process_webhook_event"]! };
  await runOnce({ pgPool: pool(), taskList: only, noHandleSignals: true, logger: silentLogger });
  await settleJobs();
}

export interface JobRow {
  id: string;
  task_identifier: string;
  payload: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  key: string | null;
}

export async function jobs(task?: string): Promise<JobRow[]> {
  const { rows } = await pool().query<JobRow>(
    // The public `jobs` view has no payload; read it from the private table it is built on.
    `SELECT j.id::text, t.identifier AS task_identifier, j.payload, j.attempts, j.max_attempts, j.last_error, j.key
       FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
      WHERE $1::text IS NULL OR t.identifier = $1 ORDER BY j.id`,
    [task ?? null],
  );
  return rows;
}

export async function jobsForEvent(eventId: string): Promise<JobRow[]> {
  return (await jobs("process_webhook_event")).filter((j) => j.payload["eventId"] === eventId);
}

/** Makes failed jobs due again (graphile-worker backs them off into the future). */
export async function makeJobsDue(): Promise<void> {
  await pool().query("SELECT graphile_worker.reschedule_jobs(array_agg(id), run_at => now()) FROM graphile_worker.jobs");
}

/** Runs SQL on the test database as the server admin (outside the app's pool). */
export async function adminQuery(sql: string): Promise<void> {
  await asAdmin((c) => c.query(sql));
}

/** Collects every log line (debug and up) until `stop()`; then the logger is silent again. */
export function captureLogs(): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      cb();
    },
  });
  configureLogger({ level: "debug", destination });
  return { lines, stop: () => void configureLogger({ level: "silent" }) };
}
