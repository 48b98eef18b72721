/**
 * Cal.com webhooks: ONE handler behind every path, so no path can skip verification.
 *
 *   POST /webhooks/calcom/:companyId   verified with that company's active secret(s)
 *   POST /webhooks/calcom              verified with CALCOM_WEBHOOK_SECRET; company from eventTypeId
 *   POST /api/calcom/webhook           (the old system's path) same as above
 *
 * Order of work (CONTRACT §3): read the raw bytes with the size cap enforced while reading (413),
 * verify the HMAC over exactly those bytes against every active secret (401; repeated failures
 * from one address: 429), parse (422, still stored as INVALID), then store the event and its job
 * in one transaction and answer 202 only after COMMIT (503 when the database cannot commit).
 *
 * Cal.com never retries a delivery, so a correctly signed one is never throttled and never
 * refused for a reason we could have avoided. Bodies, secrets and signatures are never logged.
 */
import { createHash, randomBytes } from "node:crypto";
import { context, propagation, trace, type Span } from "@opentelemetry/api";
import { decodeGlobalID, encodeGlobalID } from "@pothos/plugin-relay";
import { LRUCache } from "lru-cache";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { parseWebhookBody, type Issue } from "../../calcom/webhook-payload.ts";
import { SIGNATURE_HEADER, verifySignature } from "../../calcom/signature.ts";
import { env } from "../../config.ts";
import { activeSecrets, cachedSecrets, isKnownCompany } from "../../domain/webhook-secrets.ts";
import { inboxPool } from "../../db/client.ts";
import { log } from "../../log.ts";
import { recordWebhook, webhooksUnmatched, type WebhookOutcome } from "../../metrics.ts";
import { createLimiter, RateLimiterRes } from "../../ratelimit.ts";
import { isUuid } from "../../schema/ids.ts";
import { errorLine } from "../../webhooks/errors.ts";
import { storeDelivery, type Delivery, type Stored } from "../../webhooks/inbox.ts";
import { matchKeysOf, NO_KEYS, routeUnscoped, type Route } from "../../webhooks/match.ts";
import { requestIdOf } from "../request-context.ts";

export const WEBHOOK_PATHS = ["/webhooks/calcom/:companyId", "/webhooks/calcom", "/api/calcom/webhook"] as const;

/** Failed verifications allowed per source address and window before 429 (Default: 20 per 60 s, then 60 s blocked). */
export const FAILED_VERIFICATION_LIMIT = { points: 20, duration: 60, blockDuration: 60 } as const;

/** Seconds a client is asked to wait after a 503. */
const UNAVAILABLE_RETRY_AFTER_S = 5;

/** Verifies nothing, so an unknown company costs the same HMAC as a known one (no timing hint). */
const NO_SECRET = [randomBytes(32).toString("hex")];

/** The original Content-Type, kept before the header is normalised for the raw-body parser. */
const originalContentType = new WeakMap<FastifyRequest, string>();

type Params = { companyId?: string };

/** `:companyId` is the GraphQL global id of the Company (raw UUIDs are accepted too). */
export function companyIdFromParam(param: string): string | null {
  if (isUuid(param)) return param.toLowerCase();
  try {
    const { typename, id } = decodeGlobalID(param);
    return typename === "Company" && isUuid(id) ? id.toLowerCase() : null;
  } catch {
    return null;
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Why verification failed; logged, never sent (the client always gets the same 401). */
function failureReason(header: string | undefined, companyKnown: boolean, secretCount: number): string {
  if (header === undefined) return "missing_signature";
  if (header === "no-secret-provided") return "no_secret_provided";
  if (!/^[0-9a-f]{64}$/.test(header)) return "malformed_signature";
  if (!companyKnown) return "unknown_company";
  if (secretCount === 0) return "no_active_secret";
  return "signature_mismatch";
}

/** The trigger of a body that is not a valid envelope, when it names one; else "UNKNOWN". */
function bestEffortTrigger(text: string): string {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === "object" && "triggerEvent" in v) {
      const t = (v as { triggerEvent: unknown }).triggerEvent;
      if (typeof t === "string" && /^[A-Za-z0-9_.:-]{1,100}$/.test(t)) return t;
    }
  } catch {
    // not JSON
  }
  return "UNKNOWN";
}

/** Names an error for the log without data: PostgreSQL's DETAIL/CONTEXT lines may quote the body. */
function errorSummary(err: unknown): Record<string, string> {
  const e = err as { name?: unknown; code?: unknown } | null;
  return {
    name: typeof e?.name === "string" ? e.name : "Error",
    ...(typeof e?.code === "string" ? { code: e.code } : {}),
    message: errorLine(err, 200),
  };
}

/**
 * Addresses the shared counter has blocked, remembered in this process until their block ends:
 * while an address is blocked, its failures are answered from memory, with no database read and
 * no counter write. The shared counter still decides the block, so every process agrees on it
 * (another process learns of it at its own next failure from that address).
 */
// Bounded by maxSize (one unit per entry), not max: lru-cache preallocates its arrays for `max`
// entries up front (about 4 MB here, in every process, before the first failure).
const blocked = new LRUCache<string, number>({ maxSize: 100_000, sizeCalculation: () => 1, ttl: FAILED_VERIFICATION_LIMIT.blockDuration * 1000 });

/** Forgets every in-memory block (tests; the shared counter's own blocks are in `rate_limits`). */
export function forgetBlockedAddresses(): void {
  blocked.clear();
}

export async function calcomWebhookRoutes(app: FastifyInstance): Promise<void> {
  const maxBytes = env().WEBHOOK_MAX_BYTES;
  let limiter: RateLimiterAbstract | undefined;
  const failureLimiter = () =>
    (limiter ??= createLimiter({ keyPrefix: "webhook-failed-verification", ...FAILED_VERIFICATION_LIMIT, pgPool: inboxPool() }));

  const rateLimited = (req: FastifyRequest, reply: FastifyReply, until: number) =>
    respond(req, reply, "rate_limited", 429, { error: "rate_limited" }, {
      "retry-after": String(Math.max(1, Math.ceil((until - Date.now()) / 1000))),
    });

  // Raw bytes for every content type (JSON, form-encoded templates, anything), capped while
  // reading: Fastify stops at `bodyLimit` bytes (or at once on a larger Content-Length).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: maxBytes }, (_req, body, done) => done(null, body));

  // Keep the sender's Content-Type for the stored row, and read every body through the raw parser:
  // a malformed Content-Type must not turn a signed delivery into a 415.
  app.addHook("onRequest", async (req) => {
    const ct = req.raw.headers["content-type"];
    if (ct !== undefined) {
      originalContentType.set(req, ct.slice(0, 255));
      req.raw.headers["content-type"] = "application/octet-stream";
    }
  });

  const respond = (
    req: FastifyRequest,
    reply: FastifyReply,
    outcome: WebhookOutcome,
    status: number,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) => {
    recordWebhook(outcome, req.routeOptions.url ?? "unmatched", reply.elapsedTime / 1000);
    trace.getActiveSpan()?.setAttribute("calsync.webhook.outcome", outcome);
    return reply.code(status).headers(headers).send(body);
  };

  // Errors Fastify raises while reading the body, as precise 4xx.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      log("webhook").info({ route: req.routeOptions.url, limit: maxBytes }, "webhook body over the size limit");
      return respond(req, reply, "payload_too_large", 413, { error: "payload_too_large" });
    }
    const status = typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      log("webhook").error({ err: errorSummary(err), route: req.routeOptions.url }, "unexpected webhook error");
      return respond(req, reply, "unavailable", 500, { error: "internal_error" });
    }
    const code = err.code === "FST_ERR_CTP_INVALID_CONTENT_LENGTH" ? "invalid_content_length" : "bad_request";
    return respond(req, reply, "invalid_payload", status, { error: code });
  });

  const unavailable = (req: FastifyRequest, reply: FastifyReply, err: unknown) => {
    log("webhook").error({ err: errorSummary(err), route: req.routeOptions.url }, "webhook not stored: database unavailable");
    return respond(req, reply, "unavailable", 503, { error: "unavailable" }, { "retry-after": String(UNAVAILABLE_RETRY_AFTER_S) });
  };

  const handler = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const span: Span | undefined = trace.getActiveSpan();
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const signature = headerValue(req.headers[SIGNATURE_HEADER]);
    const scoped = req.params.companyId !== undefined;

    // 0. A blocked address may still deliver to a real company (Cal.com shares addresses between
    // tenants, and correctly signed traffic is never throttled); a failure or an unknown company
    // id from it is answered from memory, with no database work.
    const blockedUntil = blocked.get(req.ip);

    // 1. Which secrets verify this path.
    let companyId: string | null = null;
    let secrets: string[];
    try {
      if (scoped) {
        companyId = companyIdFromParam(req.params.companyId!);
        if (blockedUntil !== undefined) {
          // Cached secrets, or a real company (then one read, cached); a random id: shed.
          const cached = companyId ? cachedSecrets(companyId) : [];
          if (cached !== undefined) secrets = cached;
          else if (await isKnownCompany(companyId!)) secrets = await activeSecrets(companyId!);
          else return rateLimited(req, reply, blockedUntil);
        } else {
          secrets = companyId ? await activeSecrets(companyId) : [];
        }
      } else {
        const shared = env().CALCOM_WEBHOOK_SECRET;
        secrets = shared ? [shared] : [];
      }
    } catch (err) {
      return unavailable(req, reply, err);
    }

    // 2. Verify the exact bytes (constant-time, every active secret).
    if (!verifySignature(raw, signature, secrets.length > 0 ? secrets : NO_SECRET)) {
      const reason = failureReason(signature, !scoped || companyId !== null, secrets.length);
      if (blockedUntil !== undefined) return rateLimited(req, reply, blockedUntil);
      try {
        await failureLimiter().consume(req.ip);
      } catch (res) {
        if (res instanceof RateLimiterRes) {
          log("webhook").warn({ route: req.routeOptions.url, reason, ip: req.ip }, "webhook verification failures rate-limited");
          const until = Date.now() + Math.max(1000, res.msBeforeNext);
          blocked.set(req.ip, until, { ttl: until - Date.now() });
          return rateLimited(req, reply, until);
        }
        // The shared counter is unreachable: the 401 stands, unthrottled.
        log("webhook").warn({ err: errorSummary(res) }, "webhook failure limiter unavailable");
      }
      log("webhook").info({ route: req.routeOptions.url, reason }, "webhook signature rejected");
      return respond(req, reply, "invalid_signature", 401, { error: "invalid_signature" });
    }

    // 3. Parse. From here on the delivery is authentic: store it whatever it holds.
    const bodySha256 = createHash("sha256").update(raw).digest("hex");
    const contentType = originalContentType.get(req) ?? null;
    const parsed = parseWebhookBody(raw, contentType ?? undefined);
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    const common = {
      raw,
      bodySha256,
      contentType,
      correlationId: requestIdOf(req.raw),
      traceId: span?.spanContext().traceId ?? null,
      traceCarrier: carrier,
    };

    let delivery: Delivery;
    let details: Issue[] | null = null;
    if (!parsed.ok) {
      details = parsed.details;
      delivery = {
        ...common,
        companyId,
        triggerEvent: bestEffortTrigger(parsed.rawText),
        status: "INVALID",
        payloadJson: null,
        rawBody: parsed.rawText,
        eventCreatedAt: null,
        keys: NO_KEYS,
      };
    } else {
      const event = parsed.event;
      const keys = matchKeysOf(event);
      let note: string | null = null;
      if (!scoped) {
        let route: Route;
        try {
          route = await routeUnscoped(keys);
        } catch (err) {
          return unavailable(req, reply, err);
        }
        companyId = route.companyId;
        if (route.companyId === null) {
          note = route.detail;
          webhooksUnmatched.add(1, { reason: route.reason });
          span?.setAttribute("calsync.webhook.unmatched_reason", route.reason);
        }
      }
      delivery = {
        ...common,
        companyId,
        triggerEvent: event.triggerEvent,
        status: companyId ? "RECEIVED" : "UNMATCHED",
        payloadJson: parsed.text,
        rawBody: null,
        eventCreatedAt: event.createdAt,
        keys,
        note,
      };
    }
    span?.setAttribute("calsync.webhook.trigger", delivery.triggerEvent);
    if (companyId) span?.setAttribute("calsync.company_id", companyId);

    // 4. Commit, then answer.
    let stored: Stored;
    try {
      stored = await storeDelivery(delivery);
    } catch (err) {
      return unavailable(req, reply, err);
    }
    span?.setAttribute("calsync.webhook.event_id", stored.id);
    log("webhook").info(
      { eventId: stored.id, companyId, trigger: delivery.triggerEvent, status: stored.status, duplicate: stored.duplicate, form: stored.form },
      stored.duplicate ? "webhook duplicate" : "webhook stored",
    );
    if (stored.form === "raw_bytes_only" && !details) {
      details = [{ path: "", message: "the body could not be stored as JSON; its exact bytes are kept" }];
    }
    if (details) {
      return respond(req, reply, "invalid_payload", 422, { error: "invalid_payload", details });
    }
    // The id a client can look up as it is: webhookEvent(id:) and the webhookEvents lists use it.
    const id = encodeGlobalID("WebhookEvent", stored.id);
    return respond(req, reply, stored.duplicate ? "duplicate" : "accepted", 202, { id, duplicate: stored.duplicate });
  };

  for (const url of WEBHOOK_PATHS) {
    app.post<{ Params: Params }>(url, { bodyLimit: maxBytes }, handler);
  }
}
