/**
 * The isolation matrix's generator: from the schema as introspection shows it, full selection
 * sets for any type (every field, nested to a depth, arguments filled in), and the list of every
 * field coordinate (`Type.field`) reachable from Query, Mutation and Subscription. The matrix
 * (test/isolation-matrix.test.ts) runs each root field with a company token against another
 * company's objects and fails when a reachable coordinate was never selected by any case, so a
 * new field without a case fails the suite.
 */
import {
  astFromValue,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  print,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from "graphql";

/** A plausible value for an input type (required arguments nobody set explicitly). */
export function sampleValue(type: GraphQLInputType, name = ""): unknown {
  if (isNonNullType(type)) return sampleValue(type.ofType, name);
  if (isListType(type)) return [sampleValue(type.ofType, name)];
  if (isEnumType(type)) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields())) if (isNonNullType(f.type)) out[f.name] = sampleValue(f.type, f.name);
    return out;
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case "Int":
        return name === "first" || name === "last" ? 2 : 30;
      case "Float":
        return 0.5;
      case "Boolean":
        return false;
      case "DateTime":
        return new Date("2026-01-01T00:00:00Z");
      case "JSON":
        return {};
      default:
        return `isolation-${name || "value"}-0123456789`;
    }
  }
  throw new Error(`no sample for ${String(type)}`);
}

/** `(a: 1, b: "x")`: the given values, sampled values for the other required arguments, `first: 2` on connections. */
export function argumentList(args: readonly GraphQLArgument[], given: Record<string, unknown> = {}): string {
  const parts: string[] = [];
  for (const arg of args) {
    let value: unknown;
    if (arg.name in given) value = given[arg.name];
    else if (isNonNullType(arg.type) && arg.defaultValue === undefined) value = sampleValue(arg.type, arg.name);
    else if (arg.name === "first") value = 2;
    else continue;
    const ast = astFromValue(value instanceof Date ? value.toISOString() : value, arg.type);
    if (!ast) throw new Error(`cannot write ${arg.name}`);
    parts.push(`${arg.name}: ${print(ast)}`);
  }
  return parts.length ? `(${parts.join(", ")})` : "";
}

/**
 * Every field of `type`, nested `depth` object levels deep (interfaces and unions through inline
 * fragments of every possible type). Records each selected coordinate in `covered`.
 */
export function selection(schema: GraphQLSchema, type: GraphQLNamedType, depth: number, covered: Set<string>): string {
  if (isLeafType(type)) return "";
  if (isInterfaceType(type) || isUnionType(type)) {
    const parts = schema.getPossibleTypes(type).map((t) => `... on ${t.name} { ${selection(schema, t, depth, covered)} }`);
    return `__typename ${parts.join(" ")}`;
  }
  const object = type as GraphQLObjectType;
  const parts: string[] = ["__typename"];
  for (const field of Object.values(object.getFields())) {
    const named = getNamedType(field.type);
    if (isLeafType(named)) {
      covered.add(`${object.name}.${field.name}`);
      parts.push(`${field.name}${argumentList(field.args)}`);
    } else if (depth > 0) {
      covered.add(`${object.name}.${field.name}`);
      parts.push(`${field.name}${argumentList(field.args)} { ${selection(schema, named, depth - 1, covered)} }`);
    }
  }
  return parts.join(" ");
}

/** One root field as a document: `query { field(args) { …everything… } }`. */
export function rootDocument(
  schema: GraphQLSchema,
  operation: "query" | "mutation" | "subscription",
  field: GraphQLField<unknown, unknown>,
  given: Record<string, unknown>,
  depth: number,
  covered: Set<string>,
): string {
  const root = operation === "query" ? schema.getQueryType() : operation === "mutation" ? schema.getMutationType() : schema.getSubscriptionType();
  covered.add(`${root!.name}.${field.name}`);
  const named = getNamedType(field.type);
  const sub = isLeafType(named) ? "" : ` { ${selection(schema, named, depth, covered)} }`;
  return `${operation} { ${field.name}${argumentList(field.args, given)}${sub} }`;
}

/** Every `Type.field` reachable from the root types (through object, interface and union types). */
export function reachableCoordinates(schema: GraphQLSchema): Set<string> {
  const out = new Set<string>();
  const seen = new Set<string>();
  const visit = (type: GraphQLNamedType) => {
    if (seen.has(type.name) || type.name.startsWith("__")) return;
    seen.add(type.name);
    if (isInterfaceType(type) || isUnionType(type)) {
      for (const t of schema.getPossibleTypes(type)) visit(t);
      return;
    }
    if (!isObjectType(type)) return;
    for (const field of Object.values(type.getFields())) {
      out.add(`${type.name}.${field.name}`);
      visit(getNamedType(field.type));
    }
  };
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) if (root) visit(root);
  return out;
}
