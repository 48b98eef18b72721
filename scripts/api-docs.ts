/**
 * Writes docs/api.md, the API reference, from the code itself:
 *   - every root field, mutation and subscription, from the live GraphQL schema, each with its
 *     arguments, description and an example operation generated from its types;
 *   - every type, enum and input, with field descriptions;
 *   - every error code, from the domain catalogue (src/domain/errors.ts ERROR_CODES) and the
 *     protocol-level codes below;
 *   - the webhook endpoints and their statuses (CONTRACT §3);
 *   - the environment table: every variable of the config schema (src/config.ts) with its
 *     default, and its meaning from the README's Configuration table.
 *
 *   npm run docs:api           rewrite docs/api.md
 *   npm run docs:api -- --check  exit 1 when docs/api.md differs from what the code says (CI)
 */
import { readFileSync, writeFileSync } from "node:fs";
import {
  parse, validate, getNamedType, isEnumType, isInputObjectType, isInterfaceType, isListType, isNonNullType, isObjectType, isScalarType,
  isUnionType, type GraphQLArgument, type GraphQLField, type GraphQLInputType, type GraphQLNamedType, type GraphQLOutputType,
} from "graphql";
import { schema } from "../src/schema/index.ts";
import { ERROR_CODES } from "../src/domain/errors.ts";
import { envSchema } from "../src/config.ts";

const out = new URL("../docs/api.md", import.meta.url);
const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

const lines: string[] = [];
const w = (s = "") => lines.push(s);
const oneLine = (s: string | null | undefined) => (s ?? "").replace(/\s*\n\s*/g, " ").replaceAll("|", "\\|").trim();

// ---------------------------------------------------------------------------------------------
// Example operations, built from the types: placeholders for arguments, a selection of the
// scalar fields one level deep (connections: totalCount, the nodes' scalars and pageInfo).

const EXAMPLE_IDS: Record<string, string> = {};
function exampleId(argName: string): string {
  const type = /^(.*)Id$/.exec(argName)?.[1] ?? "Node";
  const typename = type.charAt(0).toUpperCase() + type.slice(1);
  EXAMPLE_IDS[typename] ??= `<${typename}.id>`;
  return EXAMPLE_IDS[typename]!;
}

/** The object type an `id` argument names, from the field's return type (company(id:) → Company). */
let idTypename = "";

function exampleValue(type: GraphQLInputType, name: string, depth = 0): string {
  if (isNonNullType(type)) return exampleValue(type.ofType, name, depth);
  if (isListType(type)) return `[${exampleValue(type.ofType, name, depth)}]`;
  if (isEnumType(type)) return type.getValues()[0]!.name;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((f) => isNonNullType(f.type) || depth === 0);
    return `{ ${fields.slice(0, 6).map((f) => `${f.name}: ${exampleValue(f.type, f.name, depth + 1)}`).join(", ")} }`;
  }
  switch (type.name) {
    case "ID":
      return JSON.stringify(name === "id" || name === "ids" ? `<${idTypename || "id"}${idTypename ? ".id" : ""}>` : exampleId(name));
    case "Int":
      return name === "first" || name === "last" ? "10" : name.endsWith("EventTypeId") ? "123456" : name.includes("Seconds") ? "3600" : "30";
    case "Float":
      return name === "minScore" ? "0.8" : "1.5";
    case "Boolean":
      return name === "dryRun" ? "true" : "false";
    case "DateTime":
      return JSON.stringify("2026-01-01T00:00:00.000Z");
    case "JSON":
      return "{}";
    default:
      return JSON.stringify(name === "slug" ? "acme" : name === "name" ? "Acme Clinic" : name === "currency" ? "EUR" : `<${name}>`);
  }
}

function scalarFields(type: GraphQLNamedType): string[] {
  if (!isObjectType(type) && !isInterfaceType(type)) return [];
  return Object.values(type.getFields())
    .filter((f) => f.args.every((a) => !isNonNullType(a.type)))
    .filter((f) => {
      const t = getNamedType(f.type);
      return isScalarType(t) || isEnumType(t);
    })
    .filter((f) => !["payload", "metadata", "bookingFields", "locations", "details"].includes(f.name))
    .map((f) => f.name);
}

function selection(type: GraphQLOutputType, indent: string, depth = 0): string {
  const named = getNamedType(type);
  if (isScalarType(named) || isEnumType(named)) return "";
  if (isUnionType(named)) return ` { __typename }`;
  const fields = (named as { getFields(): Record<string, GraphQLField<unknown, unknown>> }).getFields();
  if (named.name.endsWith("Connection") && fields["edges"]) {
    const node = getNamedType((getNamedType(fields["edges"].type) as { getFields(): Record<string, GraphQLField<unknown, unknown>> }).getFields()["node"]!.type);
    const total = fields["totalCount"] ? "totalCount " : "";
    return ` { ${total}edges { cursor node${selection(node, `${indent}  `, depth + 1)} } pageInfo { hasNextPage endCursor } }`;
  }
  const picks = scalarFields(named);
  if (depth === 0) {
    // One level into object fields without required arguments (e.g. coverage, rates, company).
    for (const f of Object.values(fields)) {
      const t = getNamedType(f.type);
      if (f.args.some((a) => isNonNullType(a.type)) || isScalarType(t) || isEnumType(t)) continue;
      if (t.name.endsWith("Connection") || isUnionType(t)) continue;
      const inner = scalarFields(t).slice(0, 4);
      if (inner.length) picks.push(`${f.name} { ${inner.join(" ")} }`);
      if (picks.length > 14) break;
    }
  }
  return ` { ${(picks.length ? picks : ["__typename"]).slice(0, depth === 0 ? 12 : 6).join(" ")} }`;
}

function exampleOperation(kind: "query" | "mutation" | "subscription", field: GraphQLField<unknown, unknown>): string {
  const args = field.args.filter((a) => isNonNullType(a.type) || a.name === "first");
  const returned = getNamedType(field.type);
  idTypename = isObjectType(returned) ? returned.name : "";
  const argText = args.length ? `(${args.map((a) => `${a.name}: ${exampleValue(a.type, a.name)}`).join(", ")})` : "";
  return `${kind} {\n  ${field.name}${argText}${selection(field.type, "  ")}\n}`;
}

const typeRef = (t: { toString(): string }) => `\`${t.toString()}\``;
const argList = (args: readonly GraphQLArgument[]) =>
  args.map((a) => `\`${a.name}: ${a.type.toString()}${a.defaultValue !== undefined ? ` = ${JSON.stringify(a.defaultValue)}` : ""}\``).join(", ");

function rootSection(title: string, kind: "query" | "mutation" | "subscription", root: ReturnType<typeof schema.getQueryType>) {
  if (!root) return;
  w(`## ${title}`);
  w();
  for (const field of Object.values(root.getFields())) {
    w(`### \`${field.name}\``);
    w();
    w(`Returns ${typeRef(field.type)}.${field.args.length ? ` Arguments: ${argList(field.args)}.` : ""}`);
    if (field.description) {
      w();
      w(field.description.trim());
    }
    if (field.deprecationReason) {
      w();
      w(`Deprecated: ${field.deprecationReason}`);
    }
    w();
    const example = exampleOperation(kind, field);
    // Every example is a valid operation against the live schema (placeholders aside).
    const problems = validate(schema, parse(example));
    if (problems.length) throw new Error(`example for ${field.name} is invalid: ${problems.map((p) => p.message).join("; ")}\n${example}`);
    w("```graphql");
    w(example);
    w("```");
    w();
  }
}

// ---------------------------------------------------------------------------------------------

w("# calsync API reference");
w();
w("Generated by `npm run docs:api` from the GraphQL schema, the error-code catalogue and the");
w("configuration schema; CI fails when this file differs from what the code says. Do not edit by hand.");
w("Operations troubleshooting: [troubleshooting.md](troubleshooting.md).");
w();
w("- [GraphQL: endpoint and authentication](#graphql-endpoint-and-authentication)");
w("- [Queries](#queries) · [Mutations](#mutations) · [Subscriptions](#subscriptions)");
w("- [Types](#types) · [Enums](#enums) · [Inputs](#inputs) · [Scalars](#scalars)");
w("- [Error codes](#error-codes)");
w("- [Webhook endpoints](#webhook-endpoints)");
w("- [Environment](#environment)");
w();
w("## GraphQL: endpoint and authentication");
w();
w("`POST /graphql` with `Content-Type: application/json` and `Authorization: Bearer <token>` (`GET /graphql` serves GraphiQL).");
w("The admin token sees every company; a company token (from `createApiToken`) sees its own company only: anything else is");
w("`null` with a `FORBIDDEN` error. No or an unknown token: HTTP 401 with code `UNAUTHENTICATED`. Lists are Relay connections");
w("(`first`/`after`, `last`/`before`, `edges { cursor node }`, `pageInfo`, `totalCount`); ids are opaque global ids (`node(id:)`).");
w("In the examples, `<Company.id>` and the like stand for such ids (e.g. from `companies { edges { node { id } } }`).");
w();
w("```sh");
w(`curl -s http://127.0.0.1:4000/graphql -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \\`);
w(`  -d '{"query":"{ companies(first: 10) { totalCount edges { node { id name } } } }"}'`);
w("```");
w();
rootSection("Queries", "query", schema.getQueryType());
rootSection("Mutations", "mutation", schema.getMutationType());
rootSection("Subscriptions", "subscription", schema.getSubscriptionType());
if (schema.getSubscriptionType()) {
  w("Subscriptions are served over Server-Sent Events on `/graphql` (`Accept: text/event-stream`).");
  w();
}

const named = Object.values(schema.getTypeMap())
  .filter((t) => !t.name.startsWith("__"))
  .filter((t) => ![schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].includes(t as never))
  .sort((a, b) => a.name.localeCompare(b.name));

w("## Types");
w();
for (const t of named.filter((x) => isObjectType(x) || isInterfaceType(x) || isUnionType(x))) {
  w(`### ${t.name}`);
  w();
  if (t.description) {
    w(oneLine(t.description));
    w();
  }
  if (isUnionType(t)) {
    w(`One of ${t.getTypes().map((x) => `\`${x.name}\``).join(", ")}.`);
    w();
    continue;
  }
  const ifaces = isObjectType(t) || isInterfaceType(t) ? t.getInterfaces() : [];
  if (ifaces.length) {
    w(`Implements ${ifaces.map((i) => `\`${i.name}\``).join(", ")}.`);
    w();
  }
  w("| field | type | description |");
  w("| --- | --- | --- |");
  for (const f of Object.values((t as { getFields(): Record<string, GraphQLField<unknown, unknown>> }).getFields())) {
    const args = f.args.length ? `(${f.args.map((a) => a.name).join(", ")})` : "";
    w(`| \`${f.name}${args}\` | \`${f.type.toString()}\` | ${oneLine(f.description)}${f.deprecationReason ? ` Deprecated: ${oneLine(f.deprecationReason)}` : ""} |`);
  }
  w();
}

w("## Enums");
w();
for (const t of named.filter(isEnumType)) {
  w(`### ${t.name}`);
  w();
  if (t.description) {
    w(oneLine(t.description));
    w();
  }
  w("| value | description |");
  w("| --- | --- |");
  for (const v of t.getValues()) w(`| \`${v.name}\` | ${oneLine(v.description)} |`);
  w();
}

w("## Inputs");
w();
for (const t of named.filter(isInputObjectType)) {
  w(`### ${t.name}`);
  w();
  if (t.description) {
    w(oneLine(t.description));
    w();
  }
  w("| field | type | description |");
  w("| --- | --- | --- |");
  for (const f of Object.values(t.getFields())) w(`| \`${f.name}\` | \`${f.type.toString()}\` | ${oneLine(f.description)} |`);
  w();
}

w("## Scalars");
w();
w("| scalar | description |");
w("| --- | --- |");
for (const t of named.filter(isScalarType)) {
  w(`| \`${t.name}\` | ${oneLine(t.description)}${t.specifiedByURL ? ` Specified by ${t.specifiedByURL}.` : ""} |`);
}
w();

// ---------------------------------------------------------------------------------------------

/** Codes the protocol layers add (GraphQL over HTTP, Yoga, the masking of unexpected errors). */
const PROTOCOL_CODES: Record<string, string> = {
  GRAPHQL_PARSE_FAILED: "The document is not valid GraphQL (HTTP 400).",
  GRAPHQL_VALIDATION_FAILED: "The document does not match the schema, or exceeds the depth, alias, token or cost limits (HTTP 400).",
  BAD_REQUEST: "The HTTP request could not be read as a GraphQL request (e.g. the body is not JSON) (HTTP 400).",
  PAYLOAD_TOO_LARGE: "The request body is too large (HTTP 413).",
  UNSUPPORTED_MEDIA_TYPE: "The request is not `application/json` (HTTP 415).",
  NOT_IMPLEMENTED: "The field exists in the schema but is not implemented yet.",
  INTERNAL_SERVER_ERROR: "Anything unexpected: the message is masked as \"Unexpected error.\" and the server logs it with the request's correlation id.",
};

w("## Error codes");
w();
w("Every GraphQL error a client can cause carries `extensions.code`. Branch on the code, not on the message.");
w();
w("| code | meaning |");
w("| --- | --- |");
for (const [code, meaning] of Object.entries({ ...ERROR_CODES, ...PROTOCOL_CODES })) w(`| \`${code}\` | ${oneLine(meaning)} |`);
w();

w("## Webhook endpoints");
w();
w("`POST /webhooks/calcom/:companyId` (`:companyId` = the GraphQL `Company.id`, URL-encoded) verifies with that company's");
w("active secret(s). `POST /webhooks/calcom` and `POST /api/calcom/webhook` are the same handler, verified with");
w("`CALCOM_WEBHOOK_SECRET`; the company is found from the payload's `eventTypeId`, else the event is stored `UNMATCHED`.");
w("The signature is `X-Cal-Signature-256`: lowercase hex HMAC-SHA256 of the raw body.");
w();
w("| status | when | body |");
w("| --- | --- | --- |");
const WEBHOOK_STATUSES: [string, string, string][] = [
  ["202", "signature valid; the event is committed and a job that will process it is enqueued in the same transaction", '`{"id":"…","duplicate":false}`; `id` is the event\'s GraphQL id (`webhookEvent(id:)`)'],
  ["202", "the same delivery was already received (same company, same body hash)", '`{"id":"<first id>","duplicate":true}`; no second job'],
  ["401", "signature header missing, malformed, `no-secret-provided` or wrong; or unknown company", '`{"error":"invalid_signature"}` (no hint which)'],
  ["413", "body over `WEBHOOK_MAX_BYTES` (checked while reading)", '`{"error":"payload_too_large"}`'],
  ["422", "signed, but not JSON or not a Cal.com envelope; **stored** with status `INVALID`", '`{"error":"invalid_payload","details":[…]}`'],
  ["429", "too many failed verifications from one address", '`{"error":"rate_limited"}` + `Retry-After`'],
  ["503", "the database cannot commit (never a 2xx for anything not committed)", '`{"error":"unavailable"}` + `Retry-After`'],
];
for (const [status, when, body] of WEBHOOK_STATUSES) w(`| ${status} | ${when} | ${body} |`);
w();
w("A stored event's `WebhookEvent.status`: see the `WebhookEventStatus` enum above and");
w("[troubleshooting.md](troubleshooting.md#why-did-this-webhook-not-become-a-booking).");
w();

// ---------------------------------------------------------------------------------------------

/** Meanings from the README's Configuration table (| `VAR` | default | meaning |), by variable. */
function readmeMeanings(): Map<string, string> {
  const meanings = new Map<string, string>();
  for (const line of readme.split("\n")) {
    const m = /^\| ((?:`[A-Z0-9_*]+`(?: \/ )?)+) \| (.*?) \| (.*) \|$/.exec(line);
    if (!m) continue;
    // The README's own anchors, from docs/: ../README.md#….
    const meaning = m[3]!.trim().replaceAll("](#", "](../README.md#");
    for (const [, name] of m[1]!.matchAll(/`([A-Z0-9_]+)`/g)) meanings.set(name!, meaning);
  }
  return meanings;
}

interface ZodLike {
  _zod: { def: { type: string; defaultValue?: unknown; innerType?: ZodLike } };
}
function defaultOf(schemaField: ZodLike): string {
  for (let s: ZodLike | undefined = schemaField; s; s = s._zod.def.innerType) {
    if (s._zod.def.type === "default") {
      const v = s._zod.def.defaultValue;
      return `\`${typeof v === "function" ? String((v as () => unknown)()) : String(v)}\``;
    }
  }
  return "unset";
}

const meanings = readmeMeanings();
const shape = (envSchema as unknown as { shape: Record<string, ZodLike> }).shape;
w("## Environment");
w();
w("Every variable calsync reads (`src/config.ts`); a missing or malformed one stops start-up with one line naming it.");
w("The standard `OTEL_*` variables are honoured as the OpenTelemetry SDK documents them.");
w();
w("| variable | default | meaning |");
w("| --- | --- | --- |");
const undocumented: string[] = [];
for (const [name, field] of Object.entries(shape)) {
  const meaning = meanings.get(name);
  if (!meaning) undocumented.push(name);
  w(`| \`${name}\` | ${defaultOf(field)} | ${meaning ?? "(not in the README's Configuration table yet)"} |`);
}
w();

const text = `${lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd()}\n`;
if (undocumented.length) process.stderr.write(`docs:api: not in the README's Configuration table: ${undocumented.join(", ")}\n`);
if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(out, "utf8");
  } catch {
    /* missing */
  }
  if (committed !== text) {
    process.stderr.write("docs/api.md is out of date: run `npm run docs:api` and commit it\n");
    process.exit(1);
  }
  process.stdout.write("docs/api.md is up to date\n");
} else {
  writeFileSync(out, text);
  process.stdout.write("wrote docs/api.md\n");
}
process.exit(0);
