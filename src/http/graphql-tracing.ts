/**
 * GraphQL spans. The operation span comes from @envelop/opentelemetry with documents, variables,
 * results and resolver arguments all left out: they carry API keys and webhook secrets
 * (connectCalcom, addWebhookSecret) and personal data. Root fields get a span of their own here,
 * named `Type.field`, with the operation's name and type and any error, but never arguments.
 */
import { useOpenTelemetry, getCurrentOtelContext } from "@envelop/opentelemetry";
import { useOnResolve } from "@envelop/on-resolve";
import { SpanStatusCode, context as otelContext, trace } from "@opentelemetry/api";
import type { Plugin } from "@envelop/core";

const ROOT_TYPES = new Set(["Query", "Mutation", "Subscription"]);

// oxlint-disable-next-line typescript/no-explicit-any -- each plugin has its own context type
export function graphqlTracing(): Plugin<any>[] {
  const tracer = trace.getTracer("calsync");
  return [
    useOpenTelemetry(
      { resolvers: false, document: false, variables: false, result: false },
      trace.getTracerProvider(),
    ),
    useOnResolve(({ info, context }) => {
      if (!ROOT_TYPES.has(info.parentType.name)) return;
      const parent = getCurrentOtelContext(context) ?? otelContext.active();
      const span = tracer.startSpan(
        `${info.parentType.name}.${info.fieldName}`,
        {
          attributes: {
            "graphql.field.name": info.fieldName,
            "graphql.operation.type": info.operation.operation,
            ...(info.operation.name ? { "graphql.operation.name": info.operation.name.value } : {}),
          },
        },
        parent,
      );
      return ({ result }) => {
        if (result instanceof Error) {
          span.recordException({ name: result.name, message: result.message });
          span.setStatus({ code: SpanStatusCode.ERROR, message: result.message });
          const code = (result as { extensions?: { code?: unknown } }).extensions?.code;
          if (typeof code === "string") span.setAttribute("graphql.error.code", code);
        }
        span.end();
      };
    }),
  ];
}
