/**
 * Fuzzing with fast-check.
 * - The webhook endpoint, with random bodies (JSON, envelopes, bytes, text with NULs and lone
 *   surrogates, oversize), headers (signature right, wrong, malformed, missing), content types,
 *   encodings (chunked or not) and paths (real, random, malformed ids): it answers only the
 *   contract's statuses, never a 5xx, and stores a body only when it was correctly signed.
 * - GraphQL, with random documents and with every root field given random variables: no answer is
 *   an internal error ("Unexpected error.", INTERNAL_SERVER_ERROR) or a 5xx; every error has a code.
 */
import { createHash, randomUUID } from "node:crypto";
import fc from "fast-check";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { buildClientSchema, getIntrospectionQuery, getNamedType, isLeafType, isNonNullType, type GraphQLSchema } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signBody } from "../src/calcom/signature.ts";
import { pool } from "../src/db/client.ts";
import { forgetBlockedAddresses } from "../src/http/webhooks/calcom.ts";
import { connectCompany, createApiTokenFor, createCompany, createService, createWebhookSecret } from "./factories.ts";
import { bookingCreated, serialize } from "./fixtures/webhooks.ts";
import { ADMIN_TOKEN, startTestApp, type TestApp } from "./support/app.ts";
import { FakeCalcom } from "./support/fake-calcom.ts";
import { selection } from "./support/isolation.ts";
import { deliver } from "./support/webhooks.ts";

const MAX_BYTES = 4096;
const SHARED = "fuzz-shared-secret-0123456789";
let t: TestApp;
let fake: FakeCalcom;
let companyId: string;
let secret: string;
let companyToken: string;
let schema: GraphQLSchema;

beforeAll(async () => {
  fake = new FakeCalcom({ apiKeys: [], rateLimit: false });
  await fake.start();
  t = await startTestApp({ WEBHOOK_MAX_BYTES: String(MAX_BYTES), CALCOM_WEBHOOK_SECRET: SHARED, CALCOM_API_URL: fake.url, CALCOM_TIMEOUT_MS: "500", GRAPHQL_RATE_LIMIT_MUTATIONS: "100000", GRAPHQL_RATE_LIMIT_EXPENSIVE: "100000" });
  const c = await createCompany();
  companyId = c.id;
  secret = await createWebhookSecret(c.id);
  await connectCompany(c.id);
  await createService(c.id, { calcomEventTypeId: 1187, syncStatus: "SYNCED" });
  companyToken = await createApiTokenFor(c.id);
  const intro = await t.gql(getIntrospectionQuery());
  schema = buildClientSchema(intro.body.data);
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

const WEBHOOK_STATUSES = [202, 401, 413, 422, 429];

const bodies = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ uid: fc.string({ maxLength: 40 }), eventTypeId: fc.oneof(fc.integer(), fc.constant(1187)) }).map((o) => serialize(bookingCreated(o))),
  fc.record({ triggerEvent: fc.string(), createdAt: fc.oneof(fc.string(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())), payload: fc.jsonValue() }).map((o) => JSON.stringify(o)),
  fc.string({ unit: "binary", maxLength: 300 }), // lone surrogates and NULs included
  fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
  fc.constantFrom('{"a":"\\u0000"}', '{"x":"\\ud800"}', '{"n":1e999999}', "[".repeat(3000) + "]".repeat(3000), "name=Jane&email=j%40x.org"),
  fc.integer({ min: MAX_BYTES + 1, max: MAX_BYTES * 3 }).map((n) => "x".repeat(n)),
);

type Sig = "right" | "wrong" | "malformed" | "none" | "no-secret" | "shared";
const paths = fc.oneof(
  fc.constant({ kind: "company" as const }),
  fc.constant({ kind: "unscoped" as const }),
  fc.string({ maxLength: 300 }).map((s) => ({ kind: "random" as const, s })),
  fc.uuid().map((s) => ({ kind: "random" as const, s })),
);

describe("webhook endpoint fuzzing", () => {
  it("answers only contract statuses, never 5xx, and stores only signed bodies", async () => {
    await fc.assert(
      fc.asyncProperty(
        bodies, paths,
        fc.constantFrom<Sig>("right", "wrong", "malformed", "none", "no-secret", "shared"),
        fc.option(fc.constantFrom("application/json", "application/x-www-form-urlencoded", "text/plain; charset=utf-16", "application/json; charset=latin1", "multipart/form-data", "garbage/;;;"), { nil: null }),
        fc.option(fc.integer({ min: 1, max: 512 }), { nil: undefined }),
        fc.option(fc.constantFrom("gzip", "deflate", "br", "identity", "x-unknown"), { nil: undefined }),
        async (body, p, sig, contentType, chunkSize, contentEncoding) => {
          await pool().query("DELETE FROM rate_limits");
          forgetBlockedAddresses();
          const raw = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
          const path =
            p.kind === "company" ? `/webhooks/calcom/${encodeURIComponent(encodeGlobalID("Company", companyId))}`
            : p.kind === "unscoped" ? "/webhooks/calcom"
            : `/webhooks/calcom/${encodeURIComponent(p.s)}`;
          const key = p.kind === "unscoped" ? SHARED : secret;
          const signature =
            sig === "right" ? signBody(key, raw)
            : sig === "shared" ? signBody(SHARED, raw)
            : sig === "wrong" ? signBody(`nope-${randomUUID()}`, raw)
            : sig === "malformed" ? "sha256=" + signBody(key, raw)
            : sig === "no-secret" ? "no-secret-provided"
            : null;
          const hash = createHash("sha256").update(raw).digest("hex");
          const stored = async () =>
            (await pool().query<{ n: number }>("SELECT coalesce(sum(1 + duplicate_count), 0)::int AS n FROM webhook_events WHERE body_sha256 = $1", [hash])).rows[0]!.n;
          const before = await stored();
          const res = await deliver(t, path, raw, {
            signature, contentType, ...(chunkSize ? { chunkSize } : {}), ...(contentEncoding ? { headers: { "content-encoding": contentEncoding } } : {}),
          });
          expect(WEBHOOK_STATUSES, `${res.status} ${res.text}`).toContain(res.status);
          const signedRight = (sig === "right" && p.kind !== "random") || (sig === "shared" && p.kind === "unscoped");
          const after = await stored();
          // A 202/422 stored the delivery (or counted it as a duplicate); nothing else stores anything;
          // a right signature within the size limit is always stored.
          const accepted = res.status === 202 || res.status === 422;
          expect({ accepted, storedOne: after === before + 1, unchanged: after === before }).toEqual({
            accepted: signedRight && raw.length <= MAX_BYTES,
            storedOne: accepted,
            unchanged: !accepted,
          });
        },
      ),
      { numRuns: 250, seed: 20261129 },
    );
  });
});

/** No internal error: every error has a code, none is INTERNAL_SERVER_ERROR or the masked message. */
function internalErrors(status: number, body: unknown): string[] {
  const out: string[] = [];
  if (status >= 500) out.push(`HTTP ${status}`);
  const errors = (body as { errors?: { message: string; extensions?: { code?: string } }[] } | null)?.errors ?? [];
  for (const e of errors) {
    if (!e.extensions?.code) out.push(`no code: ${e.message}`);
    if (e.extensions?.code === "INTERNAL_SERVER_ERROR" || e.message === "Unexpected error.") out.push(`internal: ${e.message}`);
  }
  return out;
}

describe("GraphQL fuzzing", () => {
  it("random documents never give an internal error", async () => {
    const words = fc.constantFrom("query", "mutation", "subscription", "{", "}", "(", ")", "node", "companies", "first:", "id:", '"x"', "$v", ":", "ID!", "...", "on", "Company", "fragment", "@include(if: true)", "__schema", "services", "edges", "1e400", "-1", "null", "[", "]");
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.array(words, { maxLength: 40 }).map((w) => w.join(" "))), fc.jsonValue(), fc.boolean(), async (query, variables, admin) => {
        const res = await t.http().post("/graphql").set("authorization", `Bearer ${admin ? ADMIN_TOKEN : companyToken}`)
          .set("content-type", "application/json").send({ query, variables });
        expect(internalErrors(res.status, res.body), `${query} → ${res.text.slice(0, 500)}`).toEqual([]);
      }),
      { numRuns: 200, seed: 20261129 },
    );
  });

  it("every root field with random variables never gives an internal error", async () => {
    const roots = [
      ...Object.values(schema.getQueryType()!.getFields()).map((f) => ({ op: "query" as const, f })),
      ...Object.values(schema.getMutationType()!.getFields()).map((f) => ({ op: "mutation" as const, f })),
    ];
    const ids = [encodeGlobalID("Company", companyId), encodeGlobalID("Service", randomUUID()), encodeGlobalID("Company", "' OR 1=1 --"), "Q29tcGFueTox", "", "null"];
    const value = fc.oneof(fc.jsonValue(), fc.constantFrom(...ids), fc.integer({ min: -2_147_483_649, max: 2_147_483_648 }), fc.string({ unit: "binary", maxLength: 50 }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...roots), fc.dictionary(fc.string({ maxLength: 12 }), value), fc.array(value, { minLength: 8, maxLength: 8 }), fc.boolean(), async ({ op, f }, extra, values, admin) => {
        const decls = f.args.map((a) => `$${a.name}: ${String(a.type)}`).join(", ");
        const args = f.args.map((a) => `${a.name}: $${a.name}`).join(", ");
        const named = getNamedType(f.type);
        const sub = isLeafType(named) ? "" : ` { ${selection(schema, named, 0, new Set())} }`;
        const query = `${op}${decls ? `(${decls})` : ""} { ${f.name}${args ? `(${args})` : ""}${sub} }`;
        const variables: Record<string, unknown> = { ...extra };
        f.args.forEach((a, i) => {
          if (isNonNullType(a.type) || i % 2 === 0) variables[a.name] = values[i % values.length];
        });
        const res = await t.http().post("/graphql").set("authorization", `Bearer ${admin ? ADMIN_TOKEN : companyToken}`)
          .set("content-type", "application/json").send({ query, variables });
        expect(internalErrors(res.status, res.body), `${query} ${JSON.stringify(variables).slice(0, 300)} → ${res.text.slice(0, 500)}`).toEqual([]);
      }),
      { numRuns: 300, seed: 20261129 },
    );
  });
});
