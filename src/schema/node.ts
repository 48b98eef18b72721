/**
 * `node(id:)` and `nodes(ids:)`, the Relay refetch entry points, written here instead of taken
 * from the relay plugin so that they answer like the typed root fields (`company(id:)` …):
 *
 * - an id that names nothing (no such row, a type that is not a Node, an inner id that is not a
 *   UUID such as `Company:-1`) answers `null`, no error: Relay refetches after a delete;
 * - an object of another company answers `null` with a FORBIDDEN error (scope auth on the type);
 * - a malformed id (not base64 of `Type:id`) answers `null` with BAD_USER_INPUT, field `id`/`ids`.
 *
 * In `nodes`, each entry stands alone: one bad id nulls its own entry (with its error at
 * `["nodes", i]`), never the whole list.
 */
import type { GraphQLResolveInfo } from "graphql";
import { decodeGlobalID, resolveNodes } from "@pothos/plugin-relay";
import { builder, type Context } from "./builder.ts";
import { UserInputError } from "../domain/errors.ts";
import { isUuid } from "./ids.ts";

const NodeRef = builder.nodeInterfaceRef();

/** Prisma's "row not found" (findUniqueOrThrow, used by prismaNode's loader). */
function isRecordNotFound(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "P2025";
}

function implementsNode(info: GraphQLResolveInfo, typename: string): boolean {
  const type = info.schema.getType(typename);
  return !!type && "getInterfaces" in type && type.getInterfaces().some((i) => i.name === NodeRef.name);
}

async function loadNode(globalId: string, field: string, ctx: Context, info: GraphQLResolveInfo): Promise<unknown> {
  let decoded: { typename: string; id: string };
  try {
    decoded = decodeGlobalID(globalId);
  } catch {
    throw new UserInputError(`Invalid global ID: ${globalId.slice(0, 100)} (ids are the opaque strings calsync returned).`, field);
  }
  if (!implementsNode(info, decoded.typename) || !isUuid(decoded.id)) return null;
  try {
    const [node] = await resolveNodes(builder, ctx, info, [decoded]);
    return (await node) ?? null;
  } catch (err) {
    if (isRecordNotFound(err)) return null;
    throw err;
  }
}

builder.queryFields((t) => ({
  node: t.field({
    type: NodeRef,
    nullable: true,
    description: "The object with this global id; null when it does not exist or is not visible to the caller.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx, info) => loadNode(String(args.id), "id", ctx, info) as never,
  }),
  nodes: t.field({
    type: [NodeRef],
    nullable: { list: false, items: true },
    description: "One entry per id, in order; an entry is null (with its own error when the id is malformed or foreign).",
    args: { ids: t.arg.idList({ required: true }) },
    // An Error as a list item nulls that item only (graphql-js reports it at ["nodes", i]).
    resolve: (_root, args, ctx, info) =>
      args.ids.map((id) => loadNode(String(id), "ids", ctx, info).catch((err: unknown) => err)) as never,
  }),
}));
