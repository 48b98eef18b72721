/**
 * Bounded GraphQL: what one request may ask for, decided before anything runs.
 *
 * Layers, cheapest first:
 * 1. Parser: at most GRAPHQL_MAX_TOKENS tokens (GraphQL Armor max-tokens). A 5,000-deep or
 *    megabyte-long document stops while being lexed, before a syntax tree exists.
 * 2. Validation (GraphQL Armor): depth, aliases, directives, and a static cost per selection.
 * 3. Arguments, with the variables applied (`checkArguments` below): `first`/`last` from 0 to
 *    MAX_PAGE_SIZE and never together; no NUL characters in strings (PostgreSQL text cannot hold
 *    them); and the number of objects the pages could return multiplied through nesting
 *    (companies × services × …) at most GRAPHQL_MAX_NODES. A static cost cannot see page sizes;
 *    this can.
 * Every refusal is a GraphQL error with `extensions.code` (QUERY_TOO_COMPLEX, with `limit` naming
 * which one, or BAD_USER_INPUT with `field`) and the operation does not execute at all.
 *
 * Introspection and GraphiQL are development aids: off with NODE_ENV=production unless
 * GRAPHQL_INTROSPECTION / GRAPHIQL say otherwise.
 */
import {
  GraphQLError,
  Kind,
  type ASTNode,
  NoSchemaIntrospectionCustomRule,
  getNamedType,
  getNullableType,
  getOperationAST,
  isInterfaceType,
  isListType,
  isObjectType,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type SelectionSetNode,
  type ASTVisitor,
  type ValidationContext,
  TypeInfo,
  typeFromAST,
  visit,
  visitWithTypeInfo,
} from "graphql";
import { getArgumentValues, getVariableValues } from "graphql/execution/values.js";
import type { Plugin } from "@envelop/core";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDirectivesPlugin } from "@escape.tech/graphql-armor-max-directives";
import { costLimitPlugin } from "@escape.tech/graphql-armor-cost-limit";
import type { GraphQLArmorRejectCallback } from "@escape.tech/graphql-armor-types";
import type { Env } from "../config.ts";

/** The largest page any connection serves (`first` or `last`). */
export const MAX_PAGE_SIZE = 100;
/** Page size when neither `first` nor `last` is given (Pothos' default). */
const DEFAULT_PAGE_SIZE = 20;

export type LimitName = "tokens" | "depth" | "aliases" | "directives" | "cost" | "nodes";

/** Armor's messages start "Syntax Error:" whatever the limit; say plainly which one was hit. */
const LIMIT_WORDS: Record<LimitName, string> = {
  tokens: "The document is too long",
  depth: "The query nests too deep",
  aliases: "The query uses too many aliases",
  directives: "The query uses too many directives",
  cost: "The query asks for too much (fields multiplied by page sizes)",
  nodes: "The query could return too many objects",
};

/** Validation contexts whose page arguments were already refused (their cost is moot). */
const refusedPages = new WeakSet<object>();

/**
 * Armor's refusal, re-worded and tagged with our code (HTTP 400). Validation limits report the
 * error instead of throwing it, so a more precise error reported first (BAD_USER_INPUT on a page
 * argument) is the one a client sees.
 */
function refuse(limit: LimitName): GraphQLArmorRejectCallback {
  return (ctx, error) => {
    const detail = error.message.replace(/^Syntax Error: /, "").replace(/^[^.]*limit of /i, "limit ");
    const tagged = new GraphQLError(`${LIMIT_WORDS[limit]} (${detail.replace(/\.$/, "")}).`, {
      ...(error.nodes ? { nodes: error.nodes } : {}),
      extensions: { code: "QUERY_TOO_COMPLEX", limit, http: { status: 400, spec: false } },
    });
    if (!ctx) {
      // The parser (tokens): nothing to report to, stop here. Yoga marks every parse failure
      // "spec" (so 200 for application/json clients) by assigning `spec ||= true`; a refused
      // document is not a typo, so `spec` stays false and the answer is 400 whatever Accept says.
      Object.defineProperty((tagged.extensions as { http: object }).http, "spec", { get: () => false, set: () => {}, enumerable: true });
      throw tagged;
    }
    if (limit === "cost" && refusedPages.has(ctx)) return;
    ctx.reportError(tagged);
  };
}

function tooComplex(limit: LimitName, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "QUERY_TOO_COMPLEX", limit, http: { status: 400, spec: false } } });
}

/** The page-size rule on `first`/`last`; null when the values are acceptable. */
function pageProblem(first: number | null | undefined, last: number | null | undefined): [string, string] | null {
  for (const [name, value] of [["first", first], ["last", last]] as const) {
    if (value === null || value === undefined) continue;
    if (value < 0 || value > MAX_PAGE_SIZE) {
      return [name, `${name} must be from 0 to ${MAX_PAGE_SIZE} (got ${value}); page with after/before.`];
    }
  }
  if (first !== null && first !== undefined && last !== null && last !== undefined) {
    return ["last", "Pass either first (with after) or last (with before), not both."];
  }
  return null;
}

function badPage(field: string, message: string, node: ASTNode): GraphQLError {
  return new GraphQLError(message, { nodes: [node], extensions: { code: "BAD_USER_INPUT", field, http: { status: 400, spec: false } } });
}

/**
 * Validation rule: page arguments written as literals (`first: 1000000`) are refused while the
 * document is validated, before the cost rule (which multiplies by them) would speak.
 * Variables are checked by `checkArguments` once their values are known.
 */
function literalPagesRule(context: ValidationContext): ASTVisitor {
  return {
    OperationDefinition(operation) {
      const typeInfo = new TypeInfo(context.getSchema());
      visit(
        operation,
        visitWithTypeInfo(typeInfo, {
          Field(node) {
            const def = typeInfo.getFieldDef();
            if (!def || !isConnection(def)) return;
            const literal = (name: string) => {
              const arg = node.arguments?.find((a) => a.name.value === name);
              return arg?.value.kind === Kind.INT ? Number(arg.value.value) : undefined;
            };
            const problem = pageProblem(literal("first"), literal("last"));
            if (problem) {
              refusedPages.add(context);
              context.reportError(badPage(problem[0], problem[1], node));
            }
          },
        }),
      );
    },
  };
}

interface ArgumentIssue {
  error: GraphQLError;
}

/** Dotted path of the first string holding a NUL character, or undefined. */
function nulPath(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const hit = nulPath(item, path);
      if (hit) return hit;
    }
    return undefined;
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const hit = nulPath(v, `${path}.${k}`);
      if (hit) return hit;
    }
  }
  return undefined;
}

function isConnectionType(type: unknown): boolean {
  return isObjectType(type) && "edges" in type.getFields() && "pageInfo" in type.getFields();
}

function isConnection(field: GraphQLField<unknown, unknown>): boolean {
  return isConnectionType(getNamedType(field.type));
}

/**
 * Walks the operation with its variables applied. Returns the first refusal, or undefined.
 * Arguments that do not coerce are left for execution to report in its own words.
 */
export function checkArguments(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Record<string, unknown> | null | undefined,
  maxNodes: number,
): ArgumentIssue | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  const root = schema.getRootType(operation.operation);
  if (!root) return undefined;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {});
  if (coerced.errors) {
    // graphql-js words these well but gives them no code.
    const [error] = coerced.errors;
    const name = /^Variable "\$(\w+)"/.exec(error!.message)?.[1];
    return {
      error: new GraphQLError(error!.message, {
        ...(error!.nodes ? { nodes: error!.nodes } : {}),
        extensions: { code: "BAD_USER_INPUT", ...(name ? { field: `$${name}` } : {}), http: { status: 400, spec: false } },
      }),
    };
  }
  const variables = coerced.coerced;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);

  let nodes = 0;
  let issue: ArgumentIssue | undefined;

  const walk = (set: SelectionSetNode, parent: GraphQLCompositeType, multiplier: number, seen: Set<string>): void => {
    for (const selection of set.selections) {
      if (issue) return;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? typeFromAST(schema, selection.typeCondition) : parent;
        walk(selection.selectionSet, (type as GraphQLCompositeType | undefined) ?? parent, multiplier, seen);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || seen.has(name)) continue;
        const type = typeFromAST(schema, fragment.typeCondition) as GraphQLCompositeType | undefined;
        walk(fragment.selectionSet, type ?? parent, multiplier, new Set([...seen, name]));
        continue;
      }
      const name = selection.name.value;
      if (name.startsWith("__") || !(isObjectType(parent) || isInterfaceType(parent))) continue;
      const field = parent.getFields()[name];
      if (!field) continue;
      let args: Record<string, unknown>;
      try {
        args = getArgumentValues(field, selection, variables);
      } catch {
        continue;
      }
      for (const [argName, value] of Object.entries(args)) {
        const hit = nulPath(value, argName);
        if (hit) {
          issue = { error: badPage(hit, `${hit} must not contain NUL characters (U+0000).`, selection) };
          return;
        }
      }
      // How many of this field's objects each parent can hold: a connection's page, a list's
      // length (ids given, else a default guess); a connection's `edges` repeat nothing more.
      let size = 1;
      if (isConnection(field)) {
        const first = args["first"] as number | null | undefined;
        const last = args["last"] as number | null | undefined;
        const problem = pageProblem(first, last);
        if (problem) {
          issue = { error: badPage(problem[0], problem[1], selection) };
          return;
        }
        size = first ?? last ?? DEFAULT_PAGE_SIZE;
      } else if (isListType(getNullableType(field.type)) && !(name === "edges" && isConnectionType(parent))) {
        const ids = args["ids"];
        size = Array.isArray(ids) ? ids.length : DEFAULT_PAGE_SIZE;
      }
      const reach = multiplier * Math.max(size, 1);
      if (selection.selectionSet) nodes += reach;
      if (nodes > maxNodes) {
        issue = {
          error: tooComplex(
            "nodes",
            `The query could return about ${nodes.toLocaleString("en")} objects (pages multiplied through nesting); the limit is ${maxNodes.toLocaleString("en")}. Ask for smaller pages or less nesting.`,
          ),
        };
        return;
      }
      if (selection.selectionSet) {
        const named = getNamedType(field.type);
        if (isObjectType(named) || isInterfaceType(named)) walk(selection.selectionSet, named, reach, seen);
        else walk(selection.selectionSet, named as GraphQLCompositeType, reach, seen);
      }
    }
  };
  walk(operation.selectionSet, root, 1, new Set());
  return issue;
}

export interface LimitsOptions {
  env: Pick<
    Env,
    | "NODE_ENV"
    | "GRAPHQL_MAX_DEPTH"
    | "GRAPHQL_MAX_ALIASES"
    | "GRAPHQL_MAX_DIRECTIVES"
    | "GRAPHQL_MAX_TOKENS"
    | "GRAPHQL_MAX_COST"
    | "GRAPHQL_MAX_NODES"
    | "GRAPHQL_INTROSPECTION"
  >;
}

/** Whether the schema may be introspected: on in development, off in production unless enabled. */
export function introspectionEnabled(env: LimitsOptions["env"]): boolean {
  return env.GRAPHQL_INTROSPECTION ?? env.NODE_ENV !== "production";
}

// oxlint-disable-next-line typescript/no-explicit-any -- each plugin has its own context type
export function graphqlLimits({ env }: LimitsOptions): Plugin<any>[] {
  const argumentGuard: Plugin = {
    onExecute({ args, setResultAndStopExecution }) {
      const issue = checkArguments(args.schema, args.document, args.operationName, args.variableValues, env.GRAPHQL_MAX_NODES);
      if (issue) setResultAndStopExecution({ errors: [issue.error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const issue = checkArguments(args.schema, args.document, args.operationName, args.variableValues, env.GRAPHQL_MAX_NODES);
      if (issue) setResultAndStopExecution({ errors: [issue.error] });
    },
  };
  const plugins: Plugin[] = [
    maxTokensPlugin({ n: env.GRAPHQL_MAX_TOKENS, onReject: [refuse("tokens")], propagateOnRejection: false }),
    {
      onValidate({ addValidationRule }) {
        addValidationRule(literalPagesRule);
      },
    },
    maxDepthPlugin({
      n: env.GRAPHQL_MAX_DEPTH,
      ignoreIntrospection: true,
      flattenFragments: true,
      onReject: [refuse("depth")],
      propagateOnRejection: false,
    }),
    maxAliasesPlugin({ n: env.GRAPHQL_MAX_ALIASES, onReject: [refuse("aliases")], propagateOnRejection: false }),
    maxDirectivesPlugin({ n: env.GRAPHQL_MAX_DIRECTIVES, onReject: [refuse("directives")], propagateOnRejection: false }),
    // depthCostFactor 1: cost = objects and scalars, multiplied by literal page sizes. Armor's
    // default (1.5 per level) would price a nested Relay page beyond any sensible limit.
    costLimitPlugin({
      maxCost: env.GRAPHQL_MAX_COST,
      depthCostFactor: 1,
      ignoreIntrospection: true,
      onReject: [refuse("cost")],
      propagateOnRejection: false,
    }),
    argumentGuard,
  ];
  if (!introspectionEnabled(env)) {
    plugins.push({
      onValidate({ addValidationRule }) {
        addValidationRule(NoSchemaIntrospectionCustomRule);
      },
    });
  }
  return plugins;
}
