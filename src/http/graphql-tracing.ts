/**
 * GraphQL spans. The operation span comes from @envelop/opentelemetry with documents, variables,
 * results and resolver arguments all left out: they carry API keys and webhook secrets
 * (connectCalcom, addWebhookSecret) and personal data. Root fields get a span of their own here,
 * named `Type.field`, with the operation's name and type and any error, but never arguments.
 *
 * Only root fields are wrapped, once per schema (a module-level WeakSet remembers the wrapped
 * fields, so every Yoga instance built on the same schema shares one wrapper and no field gets
 * two spans). @envelop/on-resolve would put a hook around every field of every type (a
 * 50-service page has about 200 field resolutions) just to return early on all but the root
 * ones; that was a tenth of a page request's CPU.
 */
import { useOpenTelemetry, getCurrentOtelContext } from "@envelop/opentelemetry";
import { SpanStatusCode, context as otelContext, trace, type Span } from "@opentelemetry/api";
import { defaultFieldResolver, type GraphQLFieldResolver, type GraphQLObjectType, type GraphQLSchema } from "graphql";
import type { Plugin } from "@envelop/core";

const wrapped = new WeakSet<object>();

function endSpan(span: Span, result: unknown): void {
  if (result instanceof Error) {
    span.recordException({ name: result.name, message: result.message });
    span.setStatus({ code: SpanStatusCode.ERROR, message: result.message });
    const code = (result as { extensions?: { code?: unknown } }).extensions?.code;
    if (typeof code === "string") span.setAttribute("graphql.error.code", code);
  }
  span.end();
}

function traceRootFields(type: GraphQLObjectType | null | undefined): void {
  if (!type) return;
  for (const field of Object.values(type.getFields())) {
    if (wrapped.has(field)) continue;
    wrapped.add(field);
    const resolve: GraphQLFieldResolver<unknown, object> = field.resolve ?? defaultFieldResolver;
    const name = `${type.name}.${field.name}`;
    field.resolve = (root, args, context, info) => {
      const span = trace.getTracer("calsync").startSpan(
        name,
        {
          attributes: {
            "graphql.field.name": info.fieldName,
            "graphql.operation.type": info.operation.operation,
            ...(info.operation.name ? { "graphql.operation.name": info.operation.name.value } : {}),
          },
        },
        getCurrentOtelContext(context) ?? otelContext.active(),
      );
      let result: unknown;
      try {
        result = resolve(root, args, context, info);
      } catch (error) {
        endSpan(span, error);
        throw error;
      }
      // Prisma's queries are thenables, not Promises.
      if (typeof (result as PromiseLike<unknown> | null)?.then === "function") {
        return Promise.resolve(result).then(
          (value: unknown) => (endSpan(span, value), value),
          (error: unknown) => {
            endSpan(span, error);
            throw error;
          },
        );
      }
      endSpan(span, result);
      return result;
    };
  }
}

// oxlint-disable-next-line typescript/no-explicit-any -- each plugin has its own context type
export function graphqlTracing(): Plugin<any>[] {
  return [
    useOpenTelemetry(
      { resolvers: false, document: false, variables: false, result: false },
      trace.getTracerProvider(),
    ),
    {
      onSchemaChange({ schema }: { schema: GraphQLSchema }) {
        traceRootFields(schema.getQueryType());
        traceRootFields(schema.getMutationType());
        traceRootFields(schema.getSubscriptionType());
      },
    },
  ];
}
